"""Markdown written by staff, turned into HTML that is safe to show to readers."""

import re
import secrets
import xml.etree.ElementTree as etree
from collections import Counter
from html.parser import HTMLParser

import markdown
import nh3
from django.conf import settings
from markdown.extensions import Extension
from markdown.extensions.toc import slugify
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor

# What an article body may contain. Images only from this site's own uploads (Body images in
# the admin): an image from another site would tell it who reads what.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2", "h3", "img",
    "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id"},
    "abbr": {"title"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
    "th": {"scope"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
HEADINGS = {"h2", "h3", "h4", "h5", "h6"}


class _DemoteTopHeadings(Treeprocessor):
    """Turn `# Heading` into <h2>: the page title is the page's only <h1>."""

    def run(self, root):
        for element in root.iter("h1"):
            element.tag = "h2"


class _DropWrittenHeadingIds(Treeprocessor):
    """Drop the ids written in the text (`## Title {: #main-content }`): toc makes them all."""

    def run(self, root):
        for element in root.iter():
            if element.tag in HEADINGS:
                element.attrib.pop("id", None)


class HeadingsExtension(Extension):
    """Headings start at <h2>, and their ids are made by toc from their text alone."""

    def extendMarkdown(self, md):
        # Both before "toc" (priority 5), so ids are made from the final headings; the second
        # after "attr_list" (8), which sets the ids written in the text.
        md.treeprocessors.register(_DemoteTopHeadings(md), "demote_top_headings", 30)
        md.treeprocessors.register(_DropWrittenHeadingIds(md), "drop_written_heading_ids", 6)


class _Citation(InlineProcessor):
    """`[^2]` cites the article's second reference: a link to it that it can link back to."""

    def __init__(self, pattern, md):
        super().__init__(pattern, md)
        self.seen = Counter()

    def handleMatch(self, match, data):
        number = int(match.group(1))
        self.seen[number] += 1
        sup = etree.Element("sup")
        link = etree.SubElement(
            sup,
            "a",
            {
                "href": f"#ref-{number}",
                "id": citation_id(number, self.seen[number]),
                "title": f"Reference {number}",
            },
        )
        link.text = f"[{number}]"
        return sup, match.start(0), match.end(0)


class CitationsExtension(Extension):
    """Citations of the article's numbered references, written `[^1]`."""

    def extendMarkdown(self, md):
        md.inlinePatterns.register(_Citation(r"\[\^([1-9][0-9]{0,2})\]", md), "citation", 175)


# A poll placed in an article's body: `[poll:<slug>]`, a paragraph of its own (see docs/editing.md).
# The slug as Django's SlugField takes it, and no longer than Poll.slug.
POLL_SLUG = r"[-a-zA-Z0-9_]{1,100}"
POLL_MARKER = re.compile(rf"\[poll:({POLL_SLUG})\]")
# Where a poll goes in sanitized body HTML (Article.body_html): a comment on a line of its own.
# nh3 removes every comment, so after sanitizing the only ones are those `_place_polls` writes.
POLL_SLOT = re.compile(rf"^<!--poll:({POLL_SLUG})-->$", re.MULTILINE)


class _PollParagraphs(Treeprocessor):
    """Mark each top-level paragraph that is a poll marker and nothing else.

    Seen after the inline patterns, so a marker in `code`, an escaped `\\[poll:…]`, a link or
    a paragraph with other text is not one; nor is one inside a list or a quotation. The mark
    is the paragraph's text made into `<slot><slug>`, `slot` a random string made for this one
    rendering, which the text being rendered cannot know, so cannot imitate.
    """

    def __init__(self, md, slot):
        super().__init__(md)
        self.slot = slot

    def run(self, root):
        for element in root:
            if element.tag != "p" or len(element) or not element.text:
                continue
            if match := POLL_MARKER.fullmatch(element.text.strip()):
                element.text = self.slot + match.group(1)
                element.attrib.clear()


class BodyPollsExtension(Extension):
    """`[poll:<slug>]` alone in a paragraph places that poll there (articles' bodies only)."""

    def __init__(self, slot, **kwargs):
        super().__init__(**kwargs)
        self.slot = slot

    def extendMarkdown(self, md):
        # After "inline" (20), which makes the text final; before "abbr" (7), which could
        # wrap a word of the marker in <abbr>.
        md.treeprocessors.register(_PollParagraphs(md, self.slot), "poll_paragraphs", 15)


def _place_polls(html, slot):
    """Turn the marked paragraphs of sanitized `html` into poll slots (`<!--poll:<slug>-->`).

    Sanitized HTML holds no comment; a `<!--` could only be in an attribute's value, where
    nh3 writes `<` as `&lt;` already. It is written so here too (the same value to a browser),
    so that whatever nh3 does, the only comments in the result are these slots.
    """
    html = html.replace("<!--", "&lt;!--")
    return re.sub(rf"^<p>{re.escape(slot)}({POLL_SLUG})</p>$", r"<!--poll:\1-->", html, flags=re.M)


def poll_slugs(html):
    """The slugs of the polls placed in body HTML (Article.body_html), in order, each once."""
    return list(dict.fromkeys(POLL_SLOT.findall(html)))


def split_at_polls(html):
    """[(html, slug)]: body HTML cut at its poll slots, each piece with the poll that follows it.

    The last piece's slug is None. The pieces are whole top-level elements of sanitized HTML.
    """
    pieces = POLL_SLOT.split(html)  # html, slug, html, slug … html
    return list(zip(pieces[::2], [*pieces[1::2], None], strict=True))


def stray_poll_markers(html):
    """The slugs of `[poll:…]` written in sanitized body HTML that place no poll.

    A marker that shares its paragraph with other text, or sits in a list or a quotation,
    stays text; one in code is left out of this list, since it is there to be shown.
    """
    outside_code = re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.S)
    return POLL_MARKER.findall(outside_code)


def citation_id(number, nth):
    """The id of the `nth` citation of reference `number` (a `section-` id, as body ids are)."""
    return f"section-cite-{number}-{nth}"


def heading_id(value, separator):
    """Ids for headings, prefixed so they never clash with the page's own ids (poll-…, main-…)."""
    return f"section-{slugify(value, separator)}"


def _only_section_ids():
    """An nh3 attribute filter: every id in the body is a `section-…` one, and is there once.

    Whatever wrote it (toc, or raw HTML such as `<h2 id="main-content">`), an id without the
    prefix, which could be one of the page's own (main-content, poll-<slug>, article-title …),
    is dropped, and so is one already taken.
    """
    seen = set()

    def keep(tag, attribute, value):
        if tag == "img" and attribute == "src":
            return value if is_uploaded_here(value) else None
        if attribute != "id":
            return value
        if not value.startswith("section-") or value in seen:
            return None
        seen.add(value)
        return value

    return keep


def render_markdown(text, *, polls=False):
    """Render Markdown to HTML and sanitize it.

    Headings start at <h2>, since the page title is the <h1>. The sanitizer removes
    scripts, event handlers, iframes and any link whose scheme is not http(s) or mailto,
    however it is encoded.

    With `polls` (an article's body), a paragraph that is only `[poll:<slug>]` becomes a
    poll slot, `<!--poll:<slug>-->` on a line of its own: the page puts the poll's box there
    (split_at_polls), after this sanitizing, which would strip a form.
    """
    if not polls:
        return sanitize(markdown_to_html(text))
    slot = f"poll-slot-{secrets.token_hex(16)}-"
    return _place_polls(sanitize(markdown_to_html(text, poll_slot=slot)), slot)


def what_the_sanitizer_drops(text):
    """What saving `text` would remove, in words an editor understands (for the admin).

    Compares the elements and links of the rendered Markdown before and after sanitizing.
    """
    before, after = _Inventory(), _Inventory()
    before.feed(markdown_to_html(text))
    after.feed(sanitize(markdown_to_html(text)))
    dropped = []
    for tag, count in (before.tags - after.tags).items():
        what = DROPPED_TAGS.get(tag, f"{count} <{tag}> element(s)")
        dropped.append(what.format(count=count))
    if lost_links := before.links - after.links:
        dropped.append(f"{sum(lost_links.values())} link(s) that were not http, https or mailto")
    if lost_handlers := before.handlers - after.handlers:
        dropped.append(f"{sum(lost_handlers.values())} script attribute(s) (onclick and the like)")
    return sorted(dropped)


DROPPED_TAGS = {
    "script": "{count} script(s)",
    "style": "{count} style block(s)",
    "img": "{count} image(s) from another site: upload them under Body images",
    "iframe": "{count} embedded frame(s)",
    "svg": "{count} drawing(s) (SVG)",
    "form": "{count} form(s)",
    "object": "{count} embedded object(s)",
}


class _Inventory(HTMLParser):
    """Counts the elements, the links and the script attributes in a piece of HTML."""

    def __init__(self):
        super().__init__()
        self.tags, self.links, self.handlers = Counter(), Counter(), Counter()

    def handle_starttag(self, tag, attrs):
        if tag != "img" or dict(attrs).get("src"):  # an image without an address loads nothing
            self.tags[tag] += 1
        for name, value in attrs:
            if name == "href" and value and not value.startswith("#"):
                self.links[value] += 1
            elif name.startswith("on"):
                self.handlers[name] += 1


def markdown_to_html(text, poll_slot=None):
    """The Markdown as HTML, before the sanitizer; with `poll_slot`, poll markers marked."""
    return markdown.markdown(
        text,
        # magiclink: a bare address written in the text (https://…, www.…) becomes a link.
        # Python-Markdown's "extra", but its footnotes: `[^1]` cites a reference instead.
        extensions=[
            *("abbr", "attr_list", "def_list", "fenced_code", "md_in_html", "tables"),
            *("sane_lists", HeadingsExtension(), CitationsExtension(), "toc", "pymdownx.magiclink"),
            *([BodyPollsExtension(poll_slot)] if poll_slot else []),
        ],
        extension_configs={"toc": {"slugify": heading_id}},
        output_format="html",
    )


def sanitize(html):
    """Keep only the elements, attributes and links an article body may have."""
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        attribute_filter=_only_section_ids(),
    )
    # An image whose address was dropped (another site's) goes altogether.
    return IMAGE_WITHOUT_SOURCE.sub("", cleaned)


IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


def is_uploaded_here(src):
    """Whether an image address is one of this site's uploads (under MEDIA_URL, same origin)."""
    media = "/" + settings.MEDIA_URL.lstrip("/")
    return src.startswith(media) and not src.startswith("//") and ".." not in src


class _SectionHeadings(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._current = [dict(attrs).get("id"), ""]

    def handle_data(self, data):
        if self._current is not None:
            self._current[1] += data

    def handle_endtag(self, tag):
        if tag == "h2" and self._current is not None:
            if self._current[0]:
                self.headings.append((self._current[0], self._current[1].strip()))
            self._current = None


def section_headings(html):
    """[(id, text)] of the <h2> headings in sanitized body HTML, in order."""
    parser = _SectionHeadings()
    parser.feed(html)
    return parser.headings


def citations(html):
    """{reference number: [ids of its citations]} in sanitized body HTML, in order."""
    found = {}
    for number, nth in re.findall(r'id="section-cite-(\d+)-(\d+)"', html):
        found.setdefault(int(number), []).append(citation_id(number, nth))
    return found
