"""The sanitizer stands between what staff type and every reader's browser."""

from html.parser import HTMLParser

import pytest

from articles.markup import render_markdown


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src=x onerror="alert(1)">',
        "<svg onload=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        '<iframe src="https://evil.example"></iframe>',
        '<p onclick="alert(1)">click</p>',
        '<a href="#" onmouseover="alert(1)">hover</a>',
        '<object data="evil.swf"></object>',
        "<style>body{display:none}</style>",
        '<form action="https://evil.example"><input name=x></form>',
    ],
)
def test_scripts_event_handlers_and_embeds_are_removed(payload):
    html = render_markdown(payload).lower()
    for forbidden in ("<script", "onerror", "onload", "onclick", "onmouseover", "<iframe",
                      "<svg", "<object", "<style", "<form", "<input"):  # fmt: skip
        assert forbidden not in html


@pytest.mark.parametrize(
    "link",
    [
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">click</a>',
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        '<a href="&#106;avascript:alert(1)">click</a>',
        '<a href="&#x6A;&#x61;&#x76;&#x61;script:alert(1)">click</a>',
        '<a href="java&#x09;script:alert(1)">click</a>',
        '<a href="&#0000106&#0000097vascript:alert(1)">click</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
        "[click](data:text/html,<script>alert(1)</script>)",
        '<a href="vbscript:msgbox(1)">click</a>',
    ],
)
def test_dangerous_link_schemes_are_stripped_however_encoded(link):
    html = render_markdown(link)
    assert "click" in html
    assert "href" not in html


def test_web_and_relative_links_survive():
    html = render_markdown("[study](https://example.org/s) and [legal](/legal/)")
    assert '<a href="https://example.org/s" rel="noopener noreferrer">study</a>' in html
    assert '<a href="/legal/" rel="noopener noreferrer">legal</a>' in html


def test_images_in_the_body_are_dropped_so_no_third_party_is_contacted():
    html = render_markdown("![chart](https://tracker.example/pixel.gif)")
    assert "<img" not in html
    assert "tracker.example" not in html


def test_top_level_heading_becomes_h2_because_the_title_is_the_h1():
    assert render_markdown("# Findings") == '<h2 id="section-findings">Findings</h2>'


def test_markdown_structure_is_kept():
    html = render_markdown("Intro\n\n## Part\n\n1. one\n2. two\n\n> quoted")
    assert "<h2" in html
    assert "<ol>\n<li>one</li>" in html
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html


def test_heading_ids_cannot_clash_with_the_pages_own_ids():
    html = render_markdown("## Main content\n\n## Poll antidepressants")
    assert 'id="main-content"' not in html
    assert 'id="poll-antidepressants"' not in html
    assert '<h2 id="section-main-content">Main content</h2>' in html


def ids_and_names(html):
    """Every id and name attribute in `html`, as a browser reads them."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend((name, value) for name, value in attrs if name in ("id", "name"))

    Collector().feed(html)
    return found


# Each way Markdown (with "extra" and "toc") lets a writer put an id or a name into the HTML.
ID_ROUTES = {
    "attr_list on a heading": "## Skip {: #main-content }",
    "attr_list on a paragraph": "Text\n{: #article-title }",
    "attr_list on a link": "[a](https://example.org){: #list-title name=poll-x }",
    "raw heading": '<h2 id="main-content">Skip</h2>',
    "raw heading, upper case": '<H3 ID="poll-antidepressants-heading">Poll</H3>',
    "raw heading, id as entities": '<h4 id="&#109;ain-content">Skip</h4>',
    "raw heading, single quotes": "<h5 id='article-title'>Title</h5>",
    "raw elements": '<p id="main-content"><a id="x" name="main-content">a</a></p>',
    "markdown in raw html": '<div markdown="1" id="main-content">\n## H {: #poll-x }\n</div>',
    "heading parsed from raw html": '<h2 markdown="1" id="list-title">Hi</h2>',
    "fenced code": "~~~ {#main-content}\ncode\n~~~",
    "footnotes": "Text[^1]\n\n[^1]: A note.",
    "table of contents": "[TOC]\n\n## Main content",
    "definition list": "Term\n:   Definition {: #main-content }",
}


@pytest.mark.parametrize("markdown", ID_ROUTES.values(), ids=ID_ROUTES.keys())
def test_every_id_in_a_body_is_a_section_id_and_there_is_no_name(markdown):
    attributes = ids_and_names(render_markdown(markdown))
    assert [name for name, _ in attributes] == ["id"] * len(attributes)
    assert all(value.startswith("section-") for _, value in attributes), attributes


@pytest.mark.parametrize(
    ("markdown", "heading"),
    [
        ("## Skip {: #main-content }", '<h2 id="section-skip">Skip</h2>'),
        ("### Poll {: #section-other }", '<h3 id="section-poll">Poll</h3>'),
        ('<h2 markdown="1" id="list-title">Hi</h2>', '<h2 id="section-hi">Hi</h2>'),
    ],
)
def test_a_heading_gets_its_id_from_its_text_whatever_id_is_written(markdown, heading):
    assert render_markdown(markdown) == heading


def test_an_id_written_in_raw_html_is_dropped():
    assert render_markdown('<h2 id="main-content">Skip</h2>') == "<h2>Skip</h2>"


def test_no_id_appears_twice_in_a_body():
    html = render_markdown('<h2 id="section-why">Why, raw</h2>\n\n## Why\n\n## Why')
    ids = [value for _, value in ids_and_names(html)]
    assert ids == ["section-why", "section-why_1"]


def test_bare_web_addresses_in_the_text_become_links():
    html = render_markdown("Read https://example.org/guide today, or javascript:alert(1).")
    assert (
        '<a href="https://example.org/guide" rel="noopener noreferrer">'
        "https://example.org/guide</a>"
    ) in html
    assert "javascript:alert(1)" in html
    assert 'href="javascript' not in html


def test_images_uploaded_here_may_appear_in_the_body_with_their_alt_text():
    html = render_markdown("![A brain at rest](/media/body/2026/11/brain.png)")
    assert html == '<p><img alt="A brain at rest" src="/media/body/2026/11/brain.png"></p>'


@pytest.mark.parametrize(
    "body",
    [
        "![x](https://tracker.example/pixel.gif)",
        '<img src="https://tracker.example/pixel.gif">',
        '<img src="//tracker.example/media/pixel.gif">',
        "![x](/media/../../etc/passwd)",
        '<img src="javascript:alert(1)">',
        '<img src="data:image/png;base64,AAAA">',
    ],
)
def test_images_from_anywhere_else_are_removed_whole(body):
    assert "<img" not in render_markdown(body)
