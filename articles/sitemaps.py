from django.contrib.sitemaps import Sitemap

from .models import Article, Contributor, Topic


class ArticleSitemap(Sitemap):
    changefreq = "monthly"

    def items(self):
        return Article.objects.published().only("slug", "updated_at", "revised_at")

    def lastmod(self, item):
        """The later of the last save and the "Updated" date staff gave."""
        return max(date for date in (item.updated_at, item.revised_at) if date is not None)


class TopicSitemap(Sitemap):
    changefreq = "weekly"

    def items(self):
        return Topic.objects.filter(articles__in=Article.objects.published()).distinct()


class AuthorSitemap(Sitemap):
    """Contributors' profiles, once they have a published article: an empty one is not listed."""

    changefreq = "weekly"

    def items(self):
        return (
            Contributor.objects.filter(articles__in=Article.objects.published())
            .only("slug")
            .distinct()
        )
