"""An article's body as the page shows it: the sanitized HTML, with the polls placed in it."""

from dataclasses import dataclass

from django import template

from articles.markup import split_at_polls
from polls.models import Poll

register = template.Library()


@dataclass(frozen=True)
class BodyPart:
    """A piece of the body and what follows it: a poll, or why the poll placed there is not.

    `html` is sanitized (Article.body_html, rendered when the article was saved). `problem`,
    for editors previewing, is "unknown", "scheduled" or "repeated"; readers see nothing there.
    """

    html: str
    slug: str | None = None
    poll: Poll | None = None
    problem: str | None = None


@register.simple_tag
def body_parts(article, body_polls):
    """[BodyPart] of `article`'s body; `body_polls` is {slug: poll} from Article.page_polls.

    A poll placed twice is shown at its first place only: a page carries each poll once.
    """
    parts, shown = [], set()
    for html, slug in split_at_polls(article.body_html):
        poll = (body_polls or {}).get(slug)
        if slug is None:
            parts.append(BodyPart(html))
        elif slug in shown:
            parts.append(BodyPart(html, slug, poll, "repeated"))
        elif poll is None:
            parts.append(BodyPart(html, slug, problem="unknown"))
        elif not poll.has_opened():
            parts.append(BodyPart(html, slug, poll, "scheduled"))
        else:
            shown.add(slug)
            parts.append(BodyPart(html, slug, poll))
    return parts
