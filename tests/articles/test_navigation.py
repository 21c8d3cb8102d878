"""The header lists the topics a reader can browse, and never turns an error page into another.

Topics come from `{% nav_topics %}` (articles/templatetags/navigation.py): one query a page,
none on the server-error pages (500, 503), none either if the database fails.
"""

import datetime
import logging
import re
import threading
from http import HTTPStatus
from pathlib import Path

import pytest
from django.db import OperationalError, connection, transaction
from django.db.utils import ConnectionHandler
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import path, reverse
from pytest_django.asserts import assertContains, assertInHTML, assertNotContains

import psyweb.urls
from articles.models import Article, Topic
from psyweb.middleware import DatabaseOutageMiddleware

from ..psyweb.test_errors import closed_port
from ..psyweb.test_outages import in_another_connection
from ..psyweb.test_settings import run_django

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MAIN_NAV = '<nav aria-label="Main">'
TOPICS_SUMMARY = "<summary>Topics</summary>"


def a_bug(request):
    raise RuntimeError("A bug in a view")


# The site's own addresses, and one whose view fails: for the 500 page (@pytest.mark.urls).
urlpatterns = [path("a-bug/", a_bug), *psyweb.urls.urlpatterns]
handler500 = psyweb.urls.handler500


@pytest.fixture
def make_topic(make_article):
    """A topic, with one article published a minute ago unless told `published=False`."""

    def make(name, published=True, **article):
        topic = Topic.objects.create(name=name, slug=name.lower().replace(" ", "-"))
        if published:
            make_article(topic=topic, **article)
        return topic

    return make


@pytest.fixture
def sleep_and_anxiety(make_topic):
    """Two topics readers can browse, made in the opposite order to their names'."""
    return make_topic("Sleep"), make_topic("Anxiety")


# What the header lists


def test_the_header_lists_the_topics_with_published_articles_by_name_each_linked_to_its_page(
    client, make_topic, now
):
    make_topic("Sleep")
    make_topic("Anxiety")
    make_topic("Grief", status=Article.Status.DRAFT)
    make_topic("Loneliness", published_at=now + datetime.timedelta(hours=1))
    make_topic("Stress", published=False)

    response = client.get(reverse("articles:index"))

    assertInHTML(
        f"""
        {MAIN_NAV}
          <ul>
            <li><a href="/">Articles</a></li>
            <li><a href="/polls/">Polls</a></li>
            <li><a href="/legal/">Legal Statement</a></li>
            <li><a href="/privacy/">Privacy</a></li>
          </ul>
          <details class="nav-topics">
            {TOPICS_SUMMARY}
            <ul>
              <li><a href="/topics/anxiety/">Anxiety</a></li>
              <li><a href="/topics/sleep/">Sleep</a></li>
            </ul>
          </details>
        </nav>
        """,
        response.text,
    )


@pytest.mark.parametrize(("seconds", "listed"), [(-1, True), (1, False)])
def test_a_topic_is_listed_from_the_moment_its_first_article_is_published(
    client, make_topic, now, seconds, listed
):
    make_topic("Grief", published_at=now + datetime.timedelta(seconds=seconds))
    response = client.get(reverse("privacy"))
    assert ('<a href="/topics/grief/">Grief</a>' in response.text) is listed


def test_without_a_topic_to_browse_the_header_has_no_topics_disclosure(client, make_topic):
    make_topic("Grief", published=False)
    response = client.get(reverse("articles:index"))
    assertContains(response, MAIN_NAV)
    assertNotContains(response, TOPICS_SUMMARY, html=True)


def test_topic_names_in_the_header_are_escaped(client, make_topic):
    Topic.objects.filter(pk=make_topic("Sleep").pk).update(name="<b>Sleep</b> & rest")
    response = client.get(reverse("articles:index"))
    assertInHTML('<a href="/topics/sleep/">&lt;b&gt;Sleep&lt;/b&gt; &amp; rest</a>', response.text)


# The current page


def test_a_topic_page_marks_its_own_link_in_the_header_as_the_current_page(
    client, sleep_and_anxiety
):
    response = client.get(reverse("articles:topic", kwargs={"slug": "sleep"}))
    assertInHTML('<a href="/topics/sleep/" aria-current="page">Sleep</a>', response.text)
    assertInHTML('<a href="/topics/anxiety/">Anxiety</a>', response.text)
    assertContains(response, 'aria-current="page"', count=1)


@pytest.mark.parametrize("page", ["home", "article in the topic", "polls"])
def test_no_other_page_marks_a_topic_as_the_current_page(client, sleep_and_anxiety, page):
    sleep, _ = sleep_and_anxiety
    url = {
        "home": reverse("articles:index"),
        "article in the topic": sleep.articles.get().get_absolute_url(),
        "polls": reverse("polls:index"),
    }[page]
    response = client.get(url)
    assertContains(response, '<a href="/topics/sleep/">Sleep</a>', html=True)
    assertNotContains(response, "aria-current")


def test_the_current_topic_is_marked_in_the_copy_every_reader_is_served(client, sleep_and_anxiety):
    # Pages are shared (psyweb.pagecache): the mark comes from the address, never the reader.
    url = reverse("articles:topic", kwargs={"slug": "anxiety"})
    first = client.get(url)
    again = Client().get(url)
    assert again.context is None, "the second reader was not served the shared copy"
    assert again.content == first.content
    assertInHTML('<a href="/topics/anxiety/" aria-current="page">Anxiety</a>', again.text)


# The cost


def test_the_header_topics_cost_one_query_however_many_topics(
    client, make_topic, django_assert_num_queries
):
    for name in ("Anxiety", "Depression", "Grief", "Loneliness", "Sleep", "Stress"):
        make_topic(name)
    make_topic("Trauma", published=False)
    # The privacy page asks the database nothing else.
    with django_assert_num_queries(1):
        response = client.get(reverse("privacy"))
    assertContains(response, 'href="/topics/', count=6)


# Error pages: the header without topics, and not a query


ERROR_PAGES = sorted(
    page.name for page in (ROOT / "templates").glob("*.html") if re.match(r"[45]\d\d", page.name)
)


def test_every_error_page_is_found_by_its_name():
    expected = {"400.html", "403_csrf.html", "404.html", "405.html", "500.html", "503.html"}
    assert expected <= set(ERROR_PAGES)


@pytest.mark.parametrize("name", ERROR_PAGES)
def test_no_error_page_asks_the_database_for_topics(
    sleep_and_anxiety, name, django_assert_num_queries
):
    request = RequestFactory().get(reverse("articles:topic", kwargs={"slug": "sleep"}))
    with django_assert_num_queries(0):
        page = render_to_string(name, request=request)
    assert MAIN_NAV in page
    assert "/topics/sleep/" not in page


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/no/such/page/", {}, HTTPStatus.NOT_FOUND),
        ("/", {"host": "evil.example"}, HTTPStatus.BAD_REQUEST),
    ],
)
def test_a_refused_request_costs_no_query(
    sleep_and_anxiety, url, headers, status, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = Client().get(url, headers=headers)
    assert response.status_code == status
    assertContains(response, MAIN_NAV, status_code=status)


def test_a_post_to_a_page_that_only_reads_costs_no_query(
    sleep_and_anxiety, django_assert_num_queries
):
    # gunicorn's readiness check in tests/psyweb/test_timeouts.py counts on it.
    with django_assert_num_queries(0):
        response = Client().post("/favicon.ico")
    assertContains(response, "This page cannot do that", status_code=405)


@pytest.mark.urls(__name__)
def test_the_server_error_page_shows_the_header_without_asking_the_database(
    sleep_and_anxiety, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = Client(raise_request_exception=False).get("/a-bug/")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assertContains(response, "Something went wrong on our side", status_code=500)
    assertContains(response, MAIN_NAV, status_code=500)
    assertNotContains(response, TOPICS_SUMMARY, html=True, status_code=500)


def test_the_outage_page_shows_the_header_without_asking_the_database(
    sleep_and_anxiety, django_assert_num_queries
):
    # A real error from a database that cannot be reached, answered as the middleware does.
    unreachable = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1",
                     "PORT": closed_port(), "NAME": "psyweb"}}
    )  # fmt: skip
    with pytest.raises(OperationalError) as outage:
        unreachable["default"].cursor()

    request = RequestFactory().get(reverse("articles:topic", kwargs={"slug": "sleep"}))
    with django_assert_num_queries(0):
        response = DatabaseOutageMiddleware(lambda request: None).process_exception(
            request, outage.value
        )

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assertContains(response, "PsyWeb is briefly unavailable", status_code=503)
    assertContains(response, MAIN_NAV, status_code=503)
    assertNotContains(response, TOPICS_SUMMARY, html=True, status_code=503)


# A database that fails the header's query: the page answers, without topics


def test_during_an_outage_a_page_that_needs_nothing_else_answers_without_topics():
    # A fresh Django whose database refuses connections: only the header's topics ask it.
    result = run_django(
        "from django.test import Client\n"
        "response = Client().get('/privacy/', headers={'host': 'localhost'})\n"
        "print(response.status_code)\n"
        "print(response.content.decode())",
        SECRET_KEY="k",
        SECURE_SSL_REDIRECT="False",
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=f"postgres://nobody@127.0.0.1:{closed_port()}/psyweb?connect_timeout=2",
    )
    status, _, page = result.stdout.partition("\n")
    assert status == "200", result.stderr
    assert "Privacy</h1>" in page
    assert MAIN_NAV in page
    assert TOPICS_SUMMARY not in page
    assert "Topics left out of the header, the database failed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_page_whose_topics_the_database_cannot_give_in_time_answers_without_them(
    sleep_and_anxiety, caplog
):
    locked, release = threading.Event(), threading.Event()

    def lock_the_topics():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Topic._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=in_another_connection, args=[lock_the_topics])
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
        response = Client().get(reverse("privacy"))
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == HTTPStatus.OK
    assertContains(response, MAIN_NAV)
    assertNotContains(response, TOPICS_SUMMARY, html=True)
    assert [
        (r.levelno, r.getMessage().split(":")[0])
        for r in caplog.records
        if r.name == "articles.templatetags.navigation"
    ] == [(logging.WARNING, "Topics left out of the header, the database failed")]


# The topic page itself


def test_a_topic_page_shows_its_description_paragraph_by_paragraph(client, make_topic):
    topic = make_topic("Sleep")
    topic.description = "Why we sleep.\n\nAnd what <b>helps</b>."
    topic.save()
    response = client.get(topic.get_absolute_url())
    assertInHTML(
        '<div class="lead"><p>Why we sleep.</p><p>And what &lt;b&gt;helps&lt;/b&gt;.</p></div>',
        response.text,
    )
    assertContains(
        response, '<meta name="description" content="Why we sleep.\n\nAnd what &lt;b&gt;helps'
    )


def test_a_topic_page_without_a_description_has_no_empty_introduction(client, make_topic):
    topic = make_topic("Sleep")
    response = client.get(topic.get_absolute_url())
    assertNotContains(response, 'class="lead"')
    assertContains(response, '<meta name="description" content="Sleep">')
