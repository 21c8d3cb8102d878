from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse_lazy
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape

from psyweb.text import strip_control_characters

from .models import Article, Contributor, Topic
from .seo import date_modified

# How many of the latest articles a feed carries.
FEED_LENGTH = 20


def as_feed_text(text):
    """Staff's plain text, ready for an RSS element that readers take as HTML.

    Readers read <title> and <description> as HTML, so the text is HTML-escaped here and the
    feed's own XML escaping comes on top: "<img …>" or "&lt;" reach the reader as typed, not as
    markup (Django's default `item_title` does the same, ticket #6533). Control characters,
    which XML 1.0 forbids, are dropped, whatever way the text reached the database.
    """
    return escape(strip_control_characters(text))


@dataclass(frozen=True)
class FeedScope:
    """What one request for a feed covers: the whole site, one topic or one author.

    Returned by `get_object`, so the request rides along with it: a Feed instance serves every
    request and must hold nothing of any one of them.
    """

    request: HttpRequest
    topic: Topic | None = None
    author: Contributor | None = None


class LatestArticlesFeed(Feed):
    """The latest articles, as RSS 2.0: the whole site's, or one topic's or author's (below)."""

    title = "PsyWeb: latest articles"
    link = reverse_lazy("articles:index")
    description = "The latest mental-health articles published on PsyWeb."

    def get_object(self, request, *args, **kwargs):
        return FeedScope(request)

    def articles(self, scope):
        return Article.objects.published()

    def items(self, scope):
        articles = list(
            self.articles(scope)
            .select_related("author")
            .only(
                "title", "slug", "summary", "published_at", "revised_at",
                "author__name", "author__slug",
            )[:FEED_LENGTH]
        )  # fmt: skip
        for article in articles:
            # Atom's <author><uri> is taken as it is given: it must be absolute.
            article.feed_author_link = (
                scope.request.build_absolute_uri(article.author.get_absolute_url())
                if article.author
                else None
            )
        return articles

    def item_title(self, item):
        return as_feed_text(item.title)

    def item_description(self, item):
        return as_feed_text(item.summary)

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return date_modified(item)

    def item_author_name(self, item):
        return strip_control_characters(item.author.name) if item.author else None

    def item_author_link(self, item):
        return item.feed_author_link


class TopicArticlesFeed(LatestArticlesFeed):
    def get_object(self, request, slug):
        return FeedScope(request, topic=get_object_or_404(Topic, slug=slug))

    def articles(self, scope):
        return super().articles(scope).filter(topic=scope.topic)

    def title(self, scope):
        return f"PsyWeb: {strip_control_characters(scope.topic.name)}"

    def link(self, scope):
        return scope.topic.get_absolute_url()

    def description(self, scope):
        return f"The latest PsyWeb articles on {strip_control_characters(scope.topic.name)}."


class AuthorArticlesFeed(LatestArticlesFeed):
    def get_object(self, request, slug):
        return FeedScope(request, author=get_object_or_404(Contributor, slug=slug))

    def articles(self, scope):
        return super().articles(scope).filter(author=scope.author)

    def title(self, scope):
        return f"PsyWeb: articles by {strip_control_characters(scope.author.name)}"

    def link(self, scope):
        return scope.author.get_absolute_url()

    def description(self, scope):
        return f"The latest PsyWeb articles by {strip_control_characters(scope.author.name)}."


class AtomFeedMixin:
    """The same feed as Atom 1.0.

    An Atom <title> is plain text (no type="html"), so titles are not HTML-escaped here, only
    cleaned of control characters; <summary> is written as type="html" and stays escaped.
    """

    feed_type = Atom1Feed

    def subtitle(self, scope):
        return self._get_dynamic_attr("description", scope)

    def item_title(self, item):
        return strip_control_characters(item.title)


class LatestArticlesAtomFeed(AtomFeedMixin, LatestArticlesFeed):
    pass


class TopicArticlesAtomFeed(AtomFeedMixin, TopicArticlesFeed):
    pass


class AuthorArticlesAtomFeed(AtomFeedMixin, AuthorArticlesFeed):
    pass
