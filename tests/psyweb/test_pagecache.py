"""Readers' pages: the same bytes for everyone, served from the shared cache (psyweb/pagecache)."""

import time
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from articles.models import Article, LegalStatement
from psyweb.pagecache import STALE_GRACE_SECONDS, page_key, render_lock_key

pytestmark = pytest.mark.django_db

SHARED_PAGES = [
    "/",
    "/articles/an-article/",
    "/topics/depression/",
    "/legal/",
    "/polls/",
    "/polls/antidepressants/",
    "/polls/antidepressants/results/",
    "/polls/antidepressants/results.json",
    "/feed/",
    "/sitemap.xml",
]


@pytest.fixture
def site(make_article, topic, default_disclaimer, poll):
    LegalStatement.objects.create(body="The terms.")
    return make_article(title="An article", slug="an-article", topic=topic, poll=poll)


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("editor", is_staff=True)
    visitor = Client()
    visitor.force_login(user)
    return visitor


@pytest.mark.parametrize("url", SHARED_PAGES)
def test_an_anonymous_reader_gets_a_page_any_shared_cache_may_keep(client, site, url):
    response = client.get(url)

    assert response.status_code == HTTPStatus.OK
    assert response.cookies == {}
    assert "Cookie" not in response.get("Vary", "")
    assert b"csrfmiddlewaretoken" not in response.content
    assert response["Cache-Control"] == "public, max-age=0, s-maxage=1"
    assert abs(int(response["X-Accel-Expires"].lstrip("@")) - time.time()) < 2


@pytest.mark.parametrize("url", SHARED_PAGES)
def test_a_repeated_anonymous_request_is_answered_without_a_query(
    client, site, url, django_assert_num_queries
):
    first = client.get(url)

    with django_assert_num_queries(0):
        again = Client().get(url)

    assert again.status_code == HTTPStatus.OK
    assert again.content == first.content
    assert again["Content-Security-Policy"] == first["Content-Security-Policy"]
    assert again["X-Content-Type-Options"] == "nosniff"


def test_two_readers_get_the_same_bytes(site):
    article = "/articles/an-article/"
    assert Client().get(article).content == Client().get(article).content


def test_a_reader_who_has_voted_gets_the_same_page_as_everyone(site, poll):
    voter = Client()
    voter.post(f"/polls/{poll.slug}/vote/", {"choice": poll.choices.first().pk})
    cache.clear()

    assert "psyweb_voter" in voter.cookies
    assert (
        voter.get("/articles/an-article/").content == Client().get("/articles/an-article/").content
    )


def test_a_head_request_is_answered_from_the_cache_without_a_body(
    client, site, django_assert_num_queries
):
    page = client.get("/legal/")
    with django_assert_num_queries(0):
        head = client.head("/legal/")
    assert head.status_code == HTTPStatus.OK
    assert head.content == b""
    assert head["Content-Length"] == str(len(page.content))


def test_each_address_is_kept_apart_query_string_included(client, site, make_article):
    for n in range(11):
        make_article(title=f"Older {n}")
    first, second = client.get("/"), client.get("/?page=2")
    assert first.content != second.content
    assert "Page 2 of 2" in second.text


def test_signed_in_staff_get_private_pages_that_no_cache_stores(staff, site):
    response = staff.get("/articles/an-article/")

    assert "private" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]
    assert "X-Accel-Expires" not in response
    # Not stored either: the next anonymous reader's page is rendered, with queries.
    with CaptureQueriesContext(connection) as queries:
        Client().get("/articles/an-article/")
    assert len(queries) > 0


def test_a_preview_is_never_stored_for_readers(django_user_model, make_article):
    editor = django_user_model.objects.create_user("writer", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="change_article"))
    staff = Client()
    staff.force_login(editor)
    draft = make_article(title="Draft", status=Article.Status.DRAFT)

    preview = staff.get(draft.get_absolute_url())
    reader = Client().get(draft.get_absolute_url())

    assert preview.status_code == HTTPStatus.OK
    assert "no-store" in preview["Cache-Control"]
    assert reader.status_code == HTTPStatus.NOT_FOUND


def test_an_edit_shows_once_the_page_is_page_cache_seconds_old(client, site, settings):
    settings.PAGE_CACHE_SECONDS = 0.2
    assert "An article" in client.get(site.get_absolute_url()).text
    Article.objects.filter(pk=site.pk).update(title="A corrected title")

    assert "An article" in client.get(site.get_absolute_url()).text  # still fresh
    time.sleep(0.25)
    assert "A corrected title" in client.get(site.get_absolute_url()).text


def test_while_another_worker_renders_an_expired_page_the_old_copy_is_served(
    client, site, settings, django_assert_num_queries
):
    settings.PAGE_CACHE_SECONDS = 0.2
    url = site.get_absolute_url()
    client.get(url)
    Article.objects.filter(pk=site.pk).update(title="A corrected title")
    time.sleep(0.25)
    lock = render_lock_key(page_key(RequestFactory().get(url)))
    assert cache.add(lock, 1, timeout=5)  # another worker is rendering it

    with django_assert_num_queries(0):
        stale = client.get(url)
    assert "An article" in stale.text

    cache.delete(lock)  # the other worker finished; past the grace, this one renders anew
    assert "A corrected title" in client.get(url).text


def test_a_stale_copy_is_not_served_past_its_grace(client, site, settings):
    settings.PAGE_CACHE_SECONDS = 0.1
    url = site.get_absolute_url()
    client.get(url)
    Article.objects.filter(pk=site.pk).update(title="A corrected title")
    time.sleep(0.1 + STALE_GRACE_SECONDS + 0.05)
    assert cache.add(render_lock_key(page_key(RequestFactory().get(url))), 1, timeout=5)

    assert "A corrected title" in client.get(url).text


def test_pages_are_still_served_when_the_cache_is_down(client, site, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing answers there
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    response = client.get(site.get_absolute_url())

    assert response.status_code == HTTPStatus.OK
    assert "An article" in response.text
    assert "Page cache unavailable" in caplog.text


def test_a_page_not_found_is_not_stored(client, site):
    client.get("/articles/not-yet/")
    response = client.get("/articles/not-yet/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "X-Accel-Expires" not in response
