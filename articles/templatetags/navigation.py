"""The topics in the header's navigation: those a reader can browse, each linked to its page.

A tag, not a context processor, so that only pages that show the header pay for it: one
query a render. Readers' pages are the same bytes for everyone (psyweb.pagecache), so the
topic marked as the current page is read from the address alone.
"""

import logging
from dataclasses import dataclass

from django import template
from django.db import DatabaseError

from articles.models import Topic

logger = logging.getLogger(__name__)

register = template.Library()


@dataclass(frozen=True)
class NavTopic:
    name: str
    url: str
    is_current: bool


@register.simple_tag(takes_context=True)
def nav_topics(context):
    """[NavTopic] for the topics with at least one published article, by name.

    None if the database fails: the navigation never turns a page into an error. (Error pages,
    templates/includes/error_page.html, do not ask for topics at all.)
    """
    try:
        topics = list(Topic.objects.with_published_articles().only("name", "slug"))
    except DatabaseError as error:
        # No traceback: the page answers, and an outage would otherwise log one per page.
        logger.warning("Topics left out of the header, the database failed: %s", str(error).strip())
        return []
    current = current_topic_slug(context.get("request"))
    return [NavTopic(t.name, t.get_absolute_url(), t.slug == current) for t in topics]


def current_topic_slug(request):
    """The slug in the address if this is a topic's page (any page of its list), else None."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name != "articles:topic":
        return None
    return match.kwargs.get("slug")
