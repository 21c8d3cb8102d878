"""The RSS feed: what staff typed reaches feed readers as text, in a feed that always parses."""

import html
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
