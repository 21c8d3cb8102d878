"""Polls placed inside an article's body with `[poll:<slug>]`, a paragraph of its own.

They are the box beside the article, at another place: the same tag and template, the same
vote. Only a whole top-level paragraph places one, each poll appears once on a page, and
readers see nothing for a poll they may not see.
"""

import datetime
import re
from collections import Counter
from html.parser import HTMLParser
from http import HTTPStatus

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from articles.markup import poll_slugs, render_markdown, split_at_polls
from articles.models import Article, LegalStatement
from polls.models import Choice, Poll
from tests.admin_forms import page_text

from .utils import references_formset

pytestmark = pytest.mark.django_db

MARKER_TEXT = re.compile(r"\[poll:", re.IGNORECASE)


class _PageReader(HTMLParser):
    """Every id on a page, and each poll box (<aside data-poll>) with its HTML and position."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = Counter()
        self.boxes = []  # [(poll slug, start offset)]
        self.body_start = self.body_end = None
        self._depth = 0
        self._lines = None

    def feed_page(self, text):
        self._lines = [0]
        for line in text.splitlines(keepends=True):
            self._lines.append(self._lines[-1] + len(line))
        self.feed(text)
        return self

    def _offset(self):
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] += 1
        if tag == "aside" and "data-poll" in attrs:
            self.boxes.append((attrs["id"].removeprefix("poll-"), self._offset()))
        if tag == "div" and attrs.get("class") == "article-body":
            self.body_start = self._offset()
            self._depth = 1
        elif tag == "div" and self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "div" and self._depth:
            self._depth -= 1
            if not self._depth:
                self.body_end = self._offset()


def read_page(response):
    return _PageReader().feed_page(response.content.decode())


def boxes_in_body(response):
    """The slugs of the poll boxes inside the article's body, in order."""
    page = read_page(response)
    return [slug for slug, at in page.boxes if page.body_start < at < page.body_end]


def boxes_beside(response):
    """The slugs of the poll boxes outside the article's body (the box beside it)."""
    page = read_page(response)
    return [slug for slug, at in page.boxes if not page.body_start < at < page.body_end]


def box_html(response, slug):
    """The HTML of the poll box of `slug` on the page."""
    text = response.content.decode()
    start = text.index(f'<aside class="box poll-box" id="poll-{slug}"')
    return text[start : text.index("</aside>", start) + len("</aside>")]


def body_with(*paragraphs):
    return "\n\n".join(paragraphs)


# Where a poll is placed, and what is not a marker


def test_a_marker_alone_in_a_paragraph_places_the_poll_there(client, make_article, make_poll):
    make_poll(slug="sleep", question="Do you sleep well?")
    article = make_article(body=body_with("Before the poll.", "[poll:sleep]", "After the poll."))

    response = client.get(article.get_absolute_url())

    assert boxes_in_body(response) == ["sleep"]
    text = response.content.decode()
    before, box, after = (
        text.index("Before the poll."),
        text.index('id="poll-sleep"'),
        text.index("After the poll."),
    )
    assert before < box < after
    assert not MARKER_TEXT.search(text)


def test_surrounding_spaces_and_windows_line_ends_still_make_a_marker(make_article):
    article = make_article(body="Intro.\r\n\r\n   [poll:sleep]  \r\n\r\nMore.")
    assert poll_slugs(article.body_html) == ["sleep"]


@pytest.mark.parametrize(
    "body",
    [
        "Take part: [poll:sleep]",  # other text in the paragraph
        "[poll:sleep] is our poll.",
        "Intro line\n[poll:sleep]\nmore of the same paragraph",
        "`[poll:sleep]`",  # inline code
        "```\n[poll:sleep]\n```",  # fenced code
        "    [poll:sleep]",  # indented code
        "> [poll:sleep]",  # a quotation
        "- [poll:sleep]",  # a list
        "1. first\n\n2. [poll:sleep]",  # a loose list: a paragraph, but inside an item
        "**[poll:sleep]**",
        "[poll:sleep](https://example.org/)",  # a link
        "\\[poll:sleep]",  # escaped: the editor wants the text
        "[poll:sleep]{: .x}",
        "[poll:not a slug]",
        "[poll:]",
        '[poll:sleep" onclick="alert(1)]',
        "[poll:<script>alert(1)</script>]",
        "[POLL:sleep]",
        "[poll: sleep]",
        '<div markdown="1">\n\n[poll:sleep]\n\n</div>',
    ],
)
def test_a_marker_that_is_not_a_whole_top_level_paragraph_stays_text(
    client, make_article, make_poll, body
):
    make_poll(slug="sleep", question="Do you sleep well?")
    article = make_article(body=body)

    assert poll_slugs(article.body_html) == []
    response = client.get(article.get_absolute_url())
    assert boxes_in_body(response) == []
    assert "Do you sleep well?" not in response.text
    # What stays is text, sanitized as any other: no element or attribute from the marker.
    assert elements_and_attributes(article.body_html) <= {
        "p", "code", "pre", "blockquote", "ul", "ol", "li", "strong", "a", "href", "rel",
    }  # fmt: skip


def elements_and_attributes(html):
    found = set()

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.update([tag, *(name for name, _ in attrs)])

    Reader().feed(html)
    return found


@pytest.mark.parametrize(
    "body",
    [
        "<p>[poll:sleep]</p>",  # raw HTML, not a Markdown paragraph
        "<!--poll:sleep-->",  # the stored slot itself, written by hand
        "<p>x</p>\n<!--poll:sleep-->\n<p>y</p>",
        '<abbr title="\n<!--poll:sleep-->\n">SL</abbr>',  # a slot hidden in an attribute
        "poll-slot-0123456789abcdef0123456789abcdef-sleep",  # a guess at the save-time mark
    ],
)
def test_a_poll_slot_cannot_be_forged_with_html(client, make_article, make_poll, body):
    make_poll(slug="sleep", question="Do you sleep well?")
    article = make_article(body=body)

    assert poll_slugs(article.body_html) == []
    assert [slug for _, slug in split_at_polls(article.body_html) if slug] == []
    assert "<!--" not in article.body_html
    assert boxes_in_body(client.get(article.get_absolute_url())) == []


def test_the_poll_html_goes_in_after_the_sanitizer(make_poll):
    # A body may not carry a form; the slot is a comment in the sanitized HTML, and the box is
    # put there when the page is rendered.
    html = render_markdown("Text.\n\n[poll:sleep]\n\n<form><input name=x></form>", polls=True)
    assert "<form" not in html
    assert "<input" not in html
    assert split_at_polls(html) == [("<p>Text.</p>\n", "sleep"), ("\n", None)]


def test_the_legal_statement_takes_no_polls(make_poll):
    make_poll(slug="sleep")
    legal = LegalStatement.objects.create(body="Terms.\n\n[poll:sleep]")
    assert "<p>[poll:sleep]</p>" in legal.body_html
    assert poll_slugs(legal.body_html) == []


# The same box, the same vote


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"closes_at_in": datetime.timedelta(days=3)},
        {"closes_at_in": -datetime.timedelta(minutes=1)},
        {"results_visibility": Poll.ResultsVisibility.AFTER_CLOSE},
        {"results_visibility": Poll.ResultsVisibility.NEVER},
    ],
    ids=["open", "open-until", "closed", "results-after-close", "results-never"],
)
def test_a_body_poll_is_the_same_box_as_the_one_beside_the_article(
    client, make_article, make_poll, now, state
):
    fields = {k: v for k, v in state.items() if k != "closes_at_in"}
    if "closes_at_in" in state:
        fields["opens_at"] = now - datetime.timedelta(days=7)
        fields["closes_at"] = now + state["closes_at_in"]
    poll = make_poll(slug="sleep", question="Do you sleep well?", **fields)
    Choice.objects.filter(pk=poll.choices.first().pk).update(folded_votes=3)
    article = make_article(poll=poll, body="Intro.")
    beside = client.get(article.get_absolute_url())
    assert boxes_beside(beside) == ["sleep"]

    article.body = body_with("Intro.", "[poll:sleep]")
    article.save()
    for cache in caches.all():
        cache.clear()  # the page is shared: served from the cache for half a second
    inside = client.get(article.get_absolute_url())

    assert boxes_in_body(inside) == ["sleep"]
    assert boxes_beside(inside) == []
    # Byte for byte the box's markup, with the same next page (the article).
    assert " ".join(box_html(inside, "sleep").split()) == " ".join(
        box_html(beside, "sleep").split()
    )


def test_a_vote_from_a_body_poll_counts_and_leads_back_to_the_article(
    client, make_article, make_poll
):
    poll = make_poll(slug="sleep", question="Do you sleep well?")
    article = make_article(body=body_with("Intro.", "[poll:sleep]", "More."))
    page = client.get(article.get_absolute_url()).content.decode()
    form = box_html_from_text(page, "sleep")
    action = re.search(r'<form class="poll-form" method="post" action="([^"]+)"', form).group(1)
    next_page = re.search(r'name="next" value="([^"]+)"', form).group(1)
    second = poll.choices.all()[1]
    assert f'value="{second.pk}"' in form

    reader = Client()
    response = reader.post(action, {"choice": second.pk, "next": next_page}, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert list(poll.choices.with_votes().values_list("votes", flat=True)) == [0, 1, 0]
    assert next_page == article.get_absolute_url()
    assert response.redirect_chain[-1][0].startswith(reverse("polls:voted", args=["sleep"]))
    # The way back leads to the poll's place in the article.
    back = f'<a href="{article.get_absolute_url()}#poll-sleep">Back to the page you were reading'
    assert back in response.text


def box_html_from_text(text, slug):
    start = text.index(f'<aside class="box poll-box" id="poll-{slug}"')
    return text[start : text.index("</aside>", start)]


def test_a_page_with_body_polls_stays_the_same_for_every_reader(client, make_article, make_poll):
    make_poll(slug="sleep")
    article = make_article(body=body_with("Intro.", "[poll:sleep]"))

    response = client.get(article.get_absolute_url())

    assert "csrfmiddlewaretoken" not in response.text
    assert not response.cookies
    assert "public" in response["Cache-Control"]
    assert f'data-poll-state="{reverse("polls:state", args=["sleep"])}"' in response.text


# Only polls a reader may see; editors are told why not


def test_readers_see_nothing_for_an_unknown_or_unopened_poll(client, make_article, make_poll, now):
    make_poll(slug="later", question="Not yet?", opens_at=now + datetime.timedelta(seconds=30))
    article = make_article(body=body_with("Intro.", "[poll:later]", "[poll:no-such-poll]", "End."))

    response = client.get(article.get_absolute_url())

    assert boxes_in_body(response) == []
    text = response.content.decode()
    for hidden in ("Not yet?", "later", "no-such-poll", "poll:"):
        assert hidden not in text
    assert "Preview" not in page_text(response)


def test_a_poll_that_has_just_opened_is_shown(client, make_article, make_poll, now):
    make_poll(slug="now-open", opens_at=now - datetime.timedelta(seconds=1))
    article = make_article(body="[poll:now-open]")
    assert boxes_in_body(client.get(article.get_absolute_url())) == ["now-open"]


def test_editors_previewing_see_why_a_body_poll_is_not_shown(
    admin_client, make_article, make_poll, now
):
    make_poll(slug="later", question="Not yet?", opens_at=now + datetime.timedelta(days=2))
    make_poll(slug="sleep", question="Do you sleep well?")
    article = make_article(
        body=body_with("[poll:sleep]", "[poll:later]", "[poll:no-such-poll]", "[poll:sleep]")
    )

    response = admin_client.get(article.get_absolute_url())

    assert boxes_in_body(response) == ["sleep"]
    text = page_text(response)
    assert "No poll has the address “no-such-poll”: readers see nothing here." in text
    assert "The poll “Not yet?” opens on" in text
    assert "until then readers see nothing here." in text
    assert "The poll “Do you sleep well?” is placed above already" in text
    assert "Not yet?" not in box_text(response)


def box_text(response):
    return " ".join(box_html(response, slug) for slug, _ in read_page(response).boxes)


# One poll once a page


def test_a_poll_placed_twice_is_shown_at_its_first_place_only(client, make_article, make_poll):
    make_poll(slug="sleep")
    article = make_article(body=body_with("One.", "[poll:sleep]", "Two.", "[poll:sleep]", "End."))

    response = client.get(article.get_absolute_url())

    assert boxes_in_body(response) == ["sleep"]
    text = response.content.decode()
    assert text.index('id="poll-sleep"') < text.index("Two.")


def test_the_box_beside_stays_empty_when_the_articles_poll_is_in_the_body(
    client, make_article, make_poll
):
    make_poll(slug="featured", is_featured=True)
    own = make_poll(slug="own")
    article = make_article(poll=own, body=body_with("Intro.", "[poll:own]"))

    response = client.get(article.get_absolute_url())

    assert boxes_in_body(response) == ["own"]
    assert boxes_beside(response) == []  # not the featured poll instead: nobody chose it here


def test_the_box_beside_stays_empty_when_the_featured_poll_is_in_the_body(
    client, make_article, make_poll
):
    make_poll(slug="featured", is_featured=True)
    article = make_article(body=body_with("Intro.", "[poll:featured]"))

    response = client.get(article.get_absolute_url())

    assert boxes_in_body(response) == ["featured"]
    assert boxes_beside(response) == []


def test_another_poll_in_the_body_leaves_the_box_beside_as_it_was(
    client, make_article, make_poll, now
):
    make_poll(slug="featured", is_featured=True)
    make_poll(slug="other")
    scheduled_own = make_poll(slug="own-later", opens_at=now + datetime.timedelta(days=1))
    with_own = make_article(poll=make_poll(slug="own"), body="[poll:other]")
    without_own = make_article(body="[poll:other]")
    own_not_open = make_article(poll=scheduled_own, body="[poll:other]")

    assert boxes_beside(client.get(with_own.get_absolute_url())) == ["own"]
    assert boxes_beside(client.get(without_own.get_absolute_url())) == ["featured"]
    assert boxes_beside(client.get(own_not_open.get_absolute_url())) == ["featured"]
    for article in (with_own, without_own, own_not_open):
        assert boxes_in_body(client.get(article.get_absolute_url())) == ["other"]


def test_no_id_is_used_twice_on_a_page_with_body_polls(
    client, admin_client, make_article, make_poll, topic, default_disclaimer, now
):
    make_poll(slug="featured", is_featured=True)
    own = make_poll(slug="own")
    make_poll(slug="other")
    article = make_article(
        topic=topic,
        poll=own,
        body=body_with(
            "## Poll",
            "[poll:other]",
            "## Main content",
            "[poll:own]",
            "## References",
            "[poll:other]",
            "[poll:featured]",
            "[poll:later]",
            "[poll:missing]",
            "Text[^1].",
        ),
    )
    make_poll(slug="later", opens_at=now + datetime.timedelta(days=1))
    article.references.create(title="A study")

    for visitor in (client, admin_client):  # a reader; an editor, with the preview's notes
        response = visitor.get(article.get_absolute_url())
        ids = read_page(response).ids
        assert [name for name, count in ids.items() if count > 1] == []
        assert boxes_in_body(response) == ["other", "own", "featured"]
        assert boxes_beside(response) == []


def test_the_island_finds_each_poll_of_the_page_once(client, make_article, make_poll):
    make_poll(slug="featured", is_featured=True)
    make_poll(slug="other")
    article = make_article(body=body_with("[poll:other]", "[poll:other]"))

    text = client.get(article.get_absolute_url()).content.decode()

    containers = re.findall(r'data-poll="(\d+)" data-poll-state="([^"]+)"', text)
    assert sorted(state for _, state in containers) == [
        reverse("polls:state", args=["featured"]),
        reverse("polls:state", args=["other"]),
    ]
    assert '<script src="/static/js/polls.js"' in text


# The marker is no text: reading time, contents, feeds, search, sharing data


def test_the_reading_time_leaves_the_markers_out(make_article, make_poll):
    make_poll(slug="sleep")
    make_poll(slug="mood")
    # 299 words and two markers: 1.495 minutes is 1; were the markers words, 1.505 would be 2.
    words = " ".join(["word"] * 299)
    article = make_article(body=body_with(words, "[poll:sleep]", "[poll:mood]"))

    assert article.reading_minutes() == 1


def test_the_table_of_contents_has_only_the_articles_sections(client, make_article, make_poll):
    make_poll(slug="sleep")
    article = make_article(
        body=body_with("## One", "[poll:sleep]", "## Two", "Text.", "## Three", "[poll:nope]")
    )

    response = client.get(article.get_absolute_url())

    assert article.contents() == [
        ("section-one", "One"),
        ("section-two", "Two"),
        ("section-three", "Three"),
    ]
    contents = response.text[response.text.index('id="contents-title"') :]
    contents = contents[: contents.index("</nav>")]
    assert "PsyWeb Poll" not in contents
    assert "poll:" not in contents


@pytest.mark.parametrize(
    "feed",
    ["articles:feed", "articles:feed_atom"],
)
def test_feeds_carry_no_marker_and_no_poll(client, make_article, make_poll, feed):
    make_poll(slug="sleep-poll", question="Do you sleep well?")
    make_article(title="On sleep", body=body_with("Sleep matters.", "[poll:sleep-poll]"))

    response = client.get(reverse(feed))

    assert response.status_code == HTTPStatus.OK
    assert "On sleep" in response.text
    for absent in ("poll:", "sleep-poll", "Do you sleep well?", "<form", "&lt;form"):
        assert absent not in response.text


def test_the_sharing_data_and_the_page_text_carry_no_marker(client, make_article, make_poll):
    make_poll(slug="sleep")
    article = make_article(summary="About sleep.", body=body_with("Intro.", "[poll:sleep]"))

    response = client.get(article.get_absolute_url())

    head = response.text[: response.text.index("</head>")]
    assert "application/ld+json" in head
    assert "poll:" not in head
    assert "poll:" not in page_text(response)


def test_search_results_show_no_marker(client, make_article, make_poll):
    make_poll(slug="sleep-poll")
    make_article(
        title="Rest",
        summary="About rest.",
        body=body_with("Sleeping matters a lot.", "[poll:sleep-poll]", "Sleeping again."),
    )

    response = client.get(reverse("articles:search"), {"q": "sleeping"})

    assert "Rest" in response.text
    assert "poll:" not in response.text
    assert "sleep-poll" not in response.text


@pytest.mark.postgresql
def test_the_search_snippet_leaves_the_marker_lines_out(make_article, make_poll):
    make_poll(slug="sleep-poll")
    make_article(
        body=body_with("Sleeping matters.", "[poll:sleep-poll]", "  [poll:mood]  ", "Sleeping.")
    )

    (article,) = Article.objects.published().search("sleeping")

    assert "Sleeping" in article.body_snippet
    assert "poll" not in article.body_snippet


# What it costs


def queries_of(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.context is not None  # rendered, not served from the page cache
    return [query["sql"] for query in queries.captured_queries]


def poll_queries(sqls):
    return [sql for sql in sqls if 'FROM "polls_' in sql]


@pytest.mark.parametrize("own_poll", [True, False], ids=["own-poll", "featured-poll"])
def test_body_polls_cost_at_most_one_query_more_than_the_box(
    make_article, make_poll, default_disclaimer, own_poll
):
    make_poll(slug="featured", is_featured=True)
    for slug in ("one", "two", "three"):
        make_poll(slug=slug)
    own = make_poll(slug="own") if own_poll else None
    plain = make_article(poll=own, body="Intro.\n\nText.")
    with_polls = make_article(
        poll=own, body=body_with("Intro.", "[poll:one]", "[poll:two]", "[poll:three]", "Text.")
    )
    reader = Client()

    box_only = queries_of(reader, plain.get_absolute_url())
    with_body_polls = queries_of(reader, with_polls.get_absolute_url())

    assert len(with_body_polls) <= len(box_only) + 1
    # Every poll of the page, the box's included, in one query; all their choices in another.
    assert len(poll_queries(with_body_polls)) == 2
    assert len(poll_queries(box_only)) == (1 if own_poll else 2)


def test_the_preview_costs_no_more_than_the_readers_page(admin_client, make_article, make_poll):
    make_poll(slug="one")
    article = make_article(body=body_with("[poll:one]", "[poll:missing]"))
    assert len(poll_queries(queries_of(admin_client, article.get_absolute_url()))) == 2


# The admin tells the editor


def admin_add(admin_client, body):
    return admin_client.post(
        reverse("admin:articles_article_add"),
        {
            "title": "T",
            "slug": "t",
            "summary": "S",
            "body": body,
            "status": "draft",
            **references_formset(),
        },
        follow=True,
    )


def warnings(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "warning"]


def test_the_editor_is_warned_about_body_polls_readers_will_not_see(admin_client, make_poll, now):
    make_poll(slug="sleep")
    make_poll(slug="later", opens_at=now + datetime.timedelta(days=2))

    response = admin_add(
        admin_client,
        body_with(
            "[poll:sleep]",
            "[poll:later]",
            "[poll:no-such-poll]",
            "[poll:sleep]",
            "Vote here: [poll:sleep]",
            "`[poll:in-code]`",
        ),
    )

    assert Article.objects.filter(slug="t").exists()  # saved all the same
    (warning,) = warnings(response)
    assert "no poll has the address “no-such-poll”" in warning
    assert "[poll:later] opens on" in warning
    assert "[poll:sleep] is written 2 times; readers see it once, at the first" in warning
    assert "[poll:sleep] shares its paragraph with other text" in warning
    assert "in-code" not in warning  # code is there to be shown


def test_body_polls_readers_will_see_bring_no_warning(admin_client, make_poll):
    make_poll(slug="sleep")
    make_poll(slug="mood")
    response = admin_add(admin_client, body_with("Intro.", "[poll:sleep]", "[poll:mood]"))
    assert Article.objects.get(slug="t").body_poll_slugs() == ["sleep", "mood"]
    assert warnings(response) == []


def test_the_article_form_says_how_to_place_a_poll_in_the_body(admin_client):
    response = admin_client.get(reverse("admin:articles_article_add"))
    assert "<code>[poll:its-slug]</code>" in response.text
