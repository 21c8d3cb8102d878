"""The RSS feed: what staff typed reaches feed readers as text, in a feed that always parses."""

import datetime
import html
import re
import xml.etree.ElementTree as ET
from http import HTTPStatus

import feedparser
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def get_feed(client):
    response = client.get(reverse("articles:feed"))
    assert response.status_code == HTTPStatus.OK
    return response


def test_a_summary_reaches_feed_readers_as_text_not_as_markup(client, make_article):
    summary = 'See <img src="https://tracker.example/p.gif"> & write &lt;3 to us.'
    make_article(title="Sleep & <b>mood</b>", summary=summary)
    response = get_feed(client)

    # The raw XML: each text HTML-escaped, inside the feed's own XML escaping.
    assert (
        "<description>See &amp;lt;img src=&amp;quot;https://tracker.example/p.gif&amp;quot;"
        "&amp;gt; &amp;amp; write &amp;amp;lt;3 to us.</description>"
    ) in response.text
    assert "<title>Sleep &amp;amp; &amp;lt;b&amp;gt;mood&amp;lt;/b&amp;gt;</title>" in response.text

    # What a feed reader makes of it: HTML that shows the text as typed, with no tag in it.
    entry = feedparser.parse(response.content).entries[0]
    assert "<img" not in entry.summary
    assert "<b>" not in entry.title
    assert html.unescape(entry.summary) == summary
    assert html.unescape(entry.title) == "Sleep & <b>mood</b>"


def test_control_characters_in_the_database_still_make_a_valid_feed(client, make_article):
    # As a management command or raw SQL could store them, past the admin's forms. (No NUL:
    # PostgreSQL refuses to store it.)
    make_article(
        title="Sleep\x0band mood\x01",
        summary="Pasted\x0cfrom\x08\x1b Word\x7f\x9f\ufffe.\x85Next.",
    )
    response = get_feed(client)

    # Our own feed, parsed strictly: this raises if it is not well-formed XML.
    item = ET.fromstring(response.content).find("channel/item")  # noqa: S314
    assert item.findtext("title") == "Sleep and mood"
    assert item.findtext("description") == "Pasted from Word. Next."
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries[0].title == "Sleep and mood"


# RSS and Atom, for the whole site, a topic and an author

FEEDS = ["feed", "feed_atom"]
TOPIC_FEEDS = ["topic_feed", "topic_feed_atom"]
AUTHOR_FEEDS = ["author_feed", "author_feed_atom"]


@pytest.fixture
def ada(db):
    from articles.models import Contributor

    return Contributor.objects.create(name="Dr Ada Lovelace", slug="ada", credentials="PhD")


@pytest.fixture
def library(make_article, topic, ada, now):
    """Published articles in and out of the topic, by and not by Ada, and unpublished ones."""
    from articles.models import Article, Contributor, Topic

    other_topic = Topic.objects.create(name="Sleep", slug="sleep")
    sam = Contributor.objects.create(name="Sam Okafor", slug="sam")
    make_article(title="Ada on depression", topic=topic, author=ada, summary="Ada's summary.")
    make_article(title="Sam on depression", topic=topic, author=sam)
    make_article(title="Ada on sleep", topic=other_topic, author=ada)
    make_article(title="Anonymous on sleep", topic=other_topic)
    make_article(title="Draft by Ada", topic=topic, author=ada, status=Article.Status.DRAFT)
    make_article(
        title="Tomorrow by Ada",
        topic=topic,
        author=ada,
        published_at=now + datetime.timedelta(days=1),
    )


def parse(client, name, *args):
    response = client.get(reverse(f"articles:{name}", args=args))
    assert response.status_code == HTTPStatus.OK
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return response, parsed


def titles(parsed):
    return sorted(entry.title for entry in parsed.entries)


@pytest.mark.parametrize("name", FEEDS)
def test_the_site_feeds_list_every_published_article_and_no_other(client, library, name):
    response, parsed = parse(client, name)
    assert titles(parsed) == [
        "Ada on depression", "Ada on sleep", "Anonymous on sleep", "Sam on depression",
    ]  # fmt: skip
    expected = "application/atom+xml" if name.endswith("atom") else "application/rss+xml"
    assert response["Content-Type"].startswith(expected)
    assert parsed.version == ("atom10" if name.endswith("atom") else "rss20")


@pytest.mark.parametrize("name", TOPIC_FEEDS)
def test_a_topic_feed_lists_only_the_topics_published_articles(client, library, name):
    _, parsed = parse(client, name, "depression")
    assert titles(parsed) == ["Ada on depression", "Sam on depression"]
    assert parsed.feed.title == "PsyWeb: Depression"
    assert parsed.feed.link == "http://testserver/topics/depression/"


@pytest.mark.parametrize("name", AUTHOR_FEEDS)
def test_an_author_feed_lists_only_their_published_articles(client, library, name):
    _, parsed = parse(client, name, "ada")
    assert titles(parsed) == ["Ada on depression", "Ada on sleep"]
    assert parsed.feed.title == "PsyWeb: articles by Dr Ada Lovelace"
    assert parsed.feed.link == "http://testserver/authors/ada/"


@pytest.mark.parametrize("name", TOPIC_FEEDS + AUTHOR_FEEDS)
def test_the_feed_of_an_unknown_topic_or_author_is_not_found(client, db, name):
    assert client.get(reverse(f"articles:{name}", args=["nobody"])).status_code == 404


@pytest.mark.parametrize("name", FEEDS)
def test_entries_carry_their_author_and_summary_as_text(client, library, name):
    _, parsed = parse(client, name)
    entry = next(e for e in parsed.entries if e.title == "Ada on depression")
    assert entry.author == "Dr Ada Lovelace"
    assert html.unescape(entry.summary) == "Ada's summary."
    assert entry.link == "http://testserver/articles/ada-on-depression/"
    anonymous = next(e for e in parsed.entries if e.title == "Anonymous on sleep")
    assert "author" not in anonymous


def test_atom_entries_link_their_author_profile(client, library):
    _, parsed = parse(client, "feed_atom")
    entry = next(e for e in parsed.entries if e.title == "Ada on depression")
    assert entry.author_detail.href == "http://testserver/authors/ada/"


def test_atom_titles_are_plain_text_and_summaries_stay_escaped(client, make_article):
    summary = 'See <img src="https://tracker.example/p.gif"> & more.'
    make_article(title="Sleep & <b>mood</b>", summary=summary)
    response, parsed = parse(client, "feed_atom")
    assert "<title>Sleep &amp; &lt;b&gt;mood&lt;/b&gt;</title>" in response.text
    entry = parsed.entries[0]
    assert html.unescape(entry.title) == "Sleep & <b>mood</b>"
    assert "<img" not in entry.summary
    assert html.unescape(entry.summary) == summary


def test_an_atom_entry_is_updated_when_the_article_was_revised(client, make_article, now):
    revised = now - datetime.timedelta(hours=1)
    make_article(published_at=now - datetime.timedelta(days=3), revised_at=revised)
    _, parsed = parse(client, "feed_atom")
    updated = datetime.datetime(*parsed.entries[0].updated_parsed[:6], tzinfo=datetime.UTC)
    assert updated == revised.replace(microsecond=0)


@pytest.mark.parametrize(
    ("page", "feeds"),
    [
        ("/topics/depression/", ["topic_feed", "topic_feed_atom"]),
        ("/authors/ada/", ["author_feed", "author_feed_atom"]),
    ],
)
def test_topic_and_author_pages_link_their_own_feeds(client, library, page, feeds):
    response = client.get(page)
    slug = page.strip("/").split("/")[1]
    for name, kind in zip(feeds, ["rss", "atom"], strict=True):
        url = reverse(f"articles:{name}", args=[slug])
        links = re.findall(
            rf'<link rel="alternate" type="application/{kind}\+xml" title="([^"]+)" href="{url}">',
            response.text,
        )
        assert len(links) == 1, response.text[:2000]
        parse(client, name, slug)


def test_every_page_links_the_site_feeds(client, db):
    response = client.get("/")
    for kind, name in (("rss", "feed"), ("atom", "feed_atom")):
        url = reverse(f"articles:{name}")
        link = rf'<link rel="alternate" type="application/{kind}\+xml" [^>]*href="{url}"'
        assert re.search(link, response.text)


@pytest.mark.parametrize(
    ("name", "args"),
    [("feed_atom", []), ("topic_feed", ["depression"]), ("author_feed_atom", ["ada"])],
)
def test_feeds_are_shared_pages_answered_from_the_cache(
    client, library, name, args, django_assert_num_queries
):
    url = reverse(f"articles:{name}", args=args)
    first = client.get(url)
    assert "public" in first["Cache-Control"]
    with django_assert_num_queries(0):
        second = client.get(url)
    assert second.content == first.content


@pytest.mark.parametrize(("name", "args"), [("feed", []), ("author_feed_atom", ["ada"])])
def test_a_feed_query_count_does_not_grow_with_its_articles(
    client, ada, make_article, name, args, django_assert_max_num_queries
):
    for _ in range(15):
        make_article(author=ada)
    # (the author,) the articles with their authors
    with django_assert_max_num_queries(2):
        client.get(reverse(f"articles:{name}", args=args))
