"""Tags for what search engines, feed readers and sharing previews read from a page."""

from django import template
from django.utils.html import format_html, json_script
from django.utils.safestring import mark_safe

from articles import seo

register = template.Library()

_JSON_SCRIPT_START = '<script type="application/json">'


@register.simple_tag(takes_context=True)
def absolute_uri(context, path):
    """The absolute address of `path` on the host this page was asked for."""
    return context["request"].build_absolute_uri(path)


@register.simple_tag(takes_context=True)
def canonical_link(context, path, page=1):
    """<link rel="canonical"> to `path` on this host; `?page=N` from the second page of a list.

    Every other query (?utm_source=… and the like) is left out, so shared copies of an
    address count as the page itself.
    """
    if page and int(page) > 1:
        path = f"{path}?page={int(page)}"
    return format_html('<link rel="canonical" href="{}">', absolute_uri(context, path))


@register.simple_tag(takes_context=True)
def article_structured_data(context, article):
    """The article's schema.org data (a dict), for `json_ld`."""
    return seo.article_structured_data(article, context["request"])


@register.simple_tag
def lead_image_path(article):
    return seo.lead_image_path(article)


@register.filter
def json_ld(value):
    """`value` as a <script type="application/ld+json"> element, safe in HTML.

    Django's `json_script` escapes <, > and & inside the JSON (as \\u003C …), so no text in
    the data, "</script>" included, can end the element; only its type is changed here.
    A JSON-LD script is data: browsers do not run it, and script-src does not apply to it.
    """
    html = json_script(value)
    if not html.startswith(_JSON_SCRIPT_START):  # pragma: no cover - Django changed its output
        raise ValueError("Unexpected output from django.utils.html.json_script")
    body = html[len(_JSON_SCRIPT_START) :]
    return mark_safe('<script type="application/ld+json">' + body)  # noqa: S308
