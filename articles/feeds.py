from django.contrib.syndication.views import Feed
from django.urls import reverse_lazy
from django.utils.html import escape

from psyweb.text import strip_control_characters

from .models import Article


def as_feed_text(text):
    """Staff's plain text, ready for an RSS element that readers take as HTML.

    Readers read <title> and <description> as HTML, so the text is HTML-escaped here and the
    feed's own XML escaping comes on top: "<img …>" or "&lt;" reach the reader as typed, not as
    markup (Django's default `item_title` does the same, ticket #6533). Control characters,
    which XML 1.0 forbids, are dropped, whatever way the text reached the database.
    """
    return escape(strip_control_characters(text))


class LatestArticlesFeed(Feed):
    title = "PsyWeb: latest articles"
    link = reverse_lazy("articles:index")
    description = "The latest mental-health articles published on PsyWeb."

    def items(self):
        return Article.objects.published().for_listing()[:20]

    def item_title(self, item):
        return as_feed_text(item.title)

    def item_description(self, item):
        return as_feed_text(item.summary)

    def item_pubdate(self, item):
        return item.published_at
