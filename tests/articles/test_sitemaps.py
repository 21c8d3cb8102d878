"""sitemap.xml and robots.txt: what crawlers are told to read, and what they are told not to."""

import datetime
import xml.etree.ElementTree as ET
from http import HTTPStatus

import pytest
from django.utils import timezone

from articles.models import Article, Contributor

pytestmark = pytest.mark.django_db

BASE = "http://testserver"
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def sitemap(client):
    """{address: lastmod or None} of every URL in /sitemap.xml."""
    response = client.get("/sitemap.xml")
    assert response.status_code == HTTPStatus.OK
    root = ET.fromstring(response.content)  # noqa: S314 - our own response
    return {
        url.findtext("s:loc", namespaces=NS): url.findtext("s:lastmod", namespaces=NS)
        for url in root.findall("s:url", NS)
    }


def test_the_sitemap_lists_public_articles_topics_authors_and_polls(
    client, make_article, topic, make_poll, now
):
    ada = Contributor.objects.create(name="Ada", slug="ada")
    Contributor.objects.create(name="Only drafts", slug="drafts-only")
    Contributor.objects.create(name="Only scheduled", slug="scheduled-only")
    public = make_article(topic=topic, author=ada)
    make_article(status=Article.Status.DRAFT, slug="a-draft", author_id=ada.pk)
    make_article(
        slug="a-draft-by-someone",
        status=Article.Status.DRAFT,
        author=Contributor.objects.get(slug="drafts-only"),
    )
    make_article(
        slug="tomorrow",
        published_at=now + datetime.timedelta(days=1),
        author=Contributor.objects.get(slug="scheduled-only"),
    )
    opened = make_poll(slug="opened")
    closed = make_poll(
        slug="closed",
        opens_at=now - datetime.timedelta(days=9),
        closes_at=now - datetime.timedelta(days=2),
    )
    make_poll(slug="scheduled", opens_at=now + datetime.timedelta(days=1))

    assert set(sitemap(client)) == {
        BASE + public.get_absolute_url(),
        BASE + "/topics/depression/",
        BASE + "/authors/ada/",
        BASE + opened.get_absolute_url(),
        BASE + closed.get_absolute_url(),
    }


def test_an_article_lastmod_is_the_later_of_its_last_save_and_its_update_date(
    client, make_article, now
):
    saved = make_article(slug="saved", revised_at=now - datetime.timedelta(days=5))
    revised = make_article(slug="revised")
    later = timezone.now() + datetime.timedelta(days=2)
    # As a management command or import could store it: "Updated" after the last save.
    Article.objects.filter(pk=revised.pk).update(revised_at=later)
    saved.refresh_from_db()

    lastmods = sitemap(client)
    assert lastmods[BASE + "/articles/saved/"] == saved.updated_at.date().isoformat()
    assert lastmods[BASE + "/articles/revised/"] == later.date().isoformat()


def test_the_sitemap_is_a_shared_page(client, make_article, django_assert_num_queries):
    make_article()
    first = client.get("/sitemap.xml")
    assert "public" in first["Cache-Control"]
    with django_assert_num_queries(0):
        assert client.get("/sitemap.xml").content == first.content


# robots.txt


def test_robots_txt_points_to_the_sitemap_and_keeps_crawlers_off_private_addresses(client, db):
    response = client.get("/robots.txt")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[0] == "User-agent: *"
    for path in ("/admin/", "/polls/*/voted/", "/polls/*/state.json", "/search/"):
        assert f"Disallow: {path}" in lines
    assert f"Sitemap: {BASE}/sitemap.xml" in lines
    assert "Disallow: /" not in lines  # the articles themselves stay open
    assert "&" not in response.text
    assert "<" not in response.text


def test_robots_txt_names_the_sitemap_on_the_host_it_was_asked_for(client, db, settings):
    settings.ALLOWED_HOSTS = ["psyweb.example"]
    response = client.get("/robots.txt", headers={"host": "psyweb.example"}, secure=True)
    assert "Sitemap: https://psyweb.example/sitemap.xml" in response.text.splitlines()


def test_robots_txt_is_a_shared_page(client, db):
    assert "public" in client.get("/robots.txt")["Cache-Control"]
