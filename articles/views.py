from django.conf import settings
from django.shortcuts import get_object_or_404
from django.views.generic import DetailView, ListView

from polls.models import Poll

from .models import Article, Contributor, CrisisNotice, LegalStatement, Topic


class ArticleListView(ListView):
    """The home page: the latest published articles, newest first."""

    template_name = "articles/article_list.html"
    paginate_by = settings.ARTICLES_PER_PAGE

    def get_queryset(self):
        return Article.objects.published().for_listing()

    def get_context_data(self, **kwargs):
        return super().get_context_data(poll=Poll.objects.featured(), **kwargs)


class TopicArticleListView(ArticleListView):
    template_name = "articles/topic_detail.html"

    def get_queryset(self):
        self.topic = get_object_or_404(Topic, slug=self.kwargs["slug"])
        return super().get_queryset().filter(topic=self.topic)

    def get_context_data(self, **kwargs):
        return super().get_context_data(topic=self.topic, **kwargs)


class AuthorArticleListView(ArticleListView):
    """A contributor's profile, with the articles they wrote."""

    template_name = "articles/contributor_detail.html"

    def get_queryset(self):
        self.contributor = get_object_or_404(Contributor, slug=self.kwargs["slug"])
        return super().get_queryset().filter(author=self.contributor)

    def get_context_data(self, **kwargs):
        return super().get_context_data(contributor=self.contributor, **kwargs)


class ArticleDetailView(DetailView):
    """One article. Readers see published articles; editors also preview drafts and scheduled ones.

    Previews need the permission to change articles, as on djangoproject.com's weblog. Editors
    are signed in, so their pages are private and never cached (psyweb.pagecache).
    """

    def get_queryset(self):
        articles = Article.objects.select_related(
            "topic", "disclaimer", "poll", "author", "medical_reviewer"
        ).prefetch_related("poll__choices", "references")
        if self.request.user.has_perm("articles.change_article"):
            return articles
        return articles.published()

    def get_context_data(self, **kwargs):
        topic = self.object.topic
        crisis_notice = CrisisNotice.objects.first() if topic and topic.is_sensitive else None
        return super().get_context_data(
            poll=self.object.get_poll(), crisis_notice=crisis_notice, **kwargs
        )


class LegalStatementView(DetailView):
    template_name = "articles/legal_statement.html"
    context_object_name = "legal_statement"

    def get_object(self, queryset=None):
        return get_object_or_404(LegalStatement)
