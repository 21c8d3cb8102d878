"""Search at /search/?q=: published articles only, any query answered kindly, paginated."""

import datetime
from http import HTTPStatus

import pytest
from django.db import connection
from django.urls import reverse
from pytest_django.asserts import assertContains, assertInHTML, assertNotContains

from articles.models import Article, Contributor

pytestmark = pytest.mark.django_db


def search(client, q, **params):
    return client.get(reverse("articles:search"), {"q": q, **params})


def found(response):
    return [article.title for article in response.context["article_list"]]


# What is found


@pytest.mark.parametrize(
    ("fields", "q"),
    [
        ({"title": "Sleep and mood"}, "sleep"),
        ({"summary": "Why insomnia feeds low mood."}, "insomnia"),
        ({"body": "Rumination keeps the mind busy at night."}, "rumination"),
        ({"body": "Several words in the body: grief changes slowly."}, "grief slowly"),
    ],
)
def test_finds_a_published_article_by_its_own_text(client, make_article, fields, q):
    match = make_article(**fields)
    make_article(title="Something else")
    response = search(client, q)
    assert response.status_code == HTTPStatus.OK
    assert found(response) == [match.title]


def test_finds_articles_by_topic_name(client, make_article, topic):
    make_article(title="In the topic", topic=topic)
    make_article(title="Not in it")
    assert found(search(client, "depression")) == ["In the topic"]


def test_finds_articles_by_author_name(client, make_article):
    author = Contributor.objects.create(name="Ada Okafor", slug="ada-okafor")
    make_article(title="By Ada", author=author)
    make_article(title="By nobody")
    assert found(search(client, "Okafor")) == ["By Ada"]


def test_every_word_must_match(client, make_article):
    make_article(title="Sleep and anxiety")
    make_article(title="Sleep and mood")
    assert found(search(client, "sleep anxiety")) == ["Sleep and anxiety"]


def test_drafts_and_scheduled_articles_are_never_found(client, make_article, now):
    make_article(title="Published sleep")
    make_article(title="Draft sleep", status=Article.Status.DRAFT)
    make_article(title="Scheduled sleep", published_at=now + datetime.timedelta(seconds=1))
    response = search(client, "sleep")
    assert found(response) == ["Published sleep"]
    assertNotContains(response, "Draft sleep")
    assertNotContains(response, "Scheduled sleep")


def test_a_scheduled_article_is_found_once_its_time_has_come(client, make_article, now):
    make_article(title="Was scheduled sleep", published_at=now - datetime.timedelta(seconds=1))
    assert found(search(client, "sleep")) == ["Was scheduled sleep"]


def test_results_are_shown_as_cards_with_a_count(client, make_article, topic):
    article = make_article(title="Sleep and mood", topic=topic)
    response = search(client, "sleep")
    assertContains(response, "1 article found for “sleep”.")
    assertInHTML(f'<a href="{article.get_absolute_url()}">Sleep and mood</a>', response.text)


# PostgreSQL: ranking, highlighted snippets, the index


@pytest.mark.postgresql
def test_a_title_match_ranks_above_a_body_only_match(client, make_article, now):
    # The body-only match is newer, so only the ranking can put the title match first.
    make_article(title="Sleep hygiene", published_at=now - datetime.timedelta(days=2))
    make_article(
        title="Evenings", body="A note on sleep.", published_at=now - datetime.timedelta(days=1)
    )
    assert found(search(client, "sleep")) == ["Sleep hygiene", "Evenings"]


@pytest.mark.postgresql
def test_a_summary_match_ranks_above_a_body_only_match(client, make_article, now):
    make_article(title="One", summary="About sleep.", published_at=now - datetime.timedelta(2))
    make_article(title="Two", body="About sleep.", published_at=now - datetime.timedelta(1))
    assert found(search(client, "sleep")) == ["One", "Two"]


@pytest.mark.postgresql
def test_matches_are_marked_in_the_summary_and_a_body_snippet(client, make_article):
    make_article(summary="Poor sleep lowers mood.", body="Many people sleep badly in winter.")
    response = search(client, "sleep")
    assertInHTML("<p>Poor <mark>sleep</mark> lowers mood.</p>", response.text)
    assertInHTML(
        '<p class="search-snippet">… Many people <mark>sleep</mark> badly in winter …</p>',
        response.text,
    )


@pytest.mark.postgresql
def test_html_typed_by_staff_is_escaped_in_marked_text(client, make_article):
    make_article(
        summary='Sleep <script>alert("s")</script> & <b>mood</b>.',
        body="Sleep <img src=x onerror=alert(1)> well.",
    )
    response = search(client, "sleep")
    assert "<script>" not in response.text
    assert "<img src=x" not in response.text
    assert "<b>mood" not in response.text
    assert "<mark>Sleep</mark> &lt;script&gt;" in response.text
    assert "&amp; &lt;b&gt;mood&lt;/b&gt;." in response.text
    assert "<mark>Sleep</mark> &lt;img src=x onerror=alert(1)&gt; well" in response.text


@pytest.mark.postgresql
def test_the_search_index_exists_and_the_search_uses_it(make_article):
    # Many published articles and one match, with fresh statistics: the planner then sees
    # that the words narrow the search far more than the publication date does.
    for _ in range(40):
        make_article()
    make_article(title="Sleep and mood")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE articles_article")
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname = %s",
            ["articles_article", "article_search"],
        )
        (indexdef,) = cursor.fetchone()
        assert "USING gin" in indexdef
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Article.objects.published().for_listing().search("sleep").explain()
    assert "article_search" in plan, plan


# Any query is answered kindly


@pytest.mark.parametrize(
    "q",
    [
        "",
        "   ",
        "!!!",
        "&|!:*()",
        "'\"",
        '"unclosed',
        "sleep & | ! : * ( )",
        "<script>alert(1)</script>",
        "'; DROP TABLE articles_article; --",
        "1' OR '1'='1",
        "%_\\",
        "sommeil, humeur, Ängste, 抑郁, 🙂",
        "the and of",
        "-sleep",
        "x" * 5000,
        "sleep " * 1000,
    ],
)
def test_any_query_gets_a_page(client, make_article, q):
    make_article(title="Sleep and mood")
    response = search(client, q)
    assert response.status_code == HTTPStatus.OK
    assert "<script>alert(1)</script>" not in response.text


@pytest.mark.parametrize("q", ["!!!", "&|!:*()", "' \"", "-- ;"])
def test_a_query_of_punctuation_alone_finds_nothing(client, make_article, q):
    make_article(title="Sleep & mood: (what's new)!")
    response = search(client, q)
    assert response.status_code == HTTPStatus.OK
    assert found(response) == []
    assertContains(response, "No articles match")


def test_punctuation_between_words_is_ignored(client, make_article):
    make_article(title="Sleep and mood")
    assert found(search(client, "sleep & (mood)!")) == ["Sleep and mood"]


def test_an_empty_query_asks_for_words(client):
    response = search(client, "  ")
    assertContains(response, "Type a word or two")
    assert response.context["query"] == ""


def test_a_search_without_q_gets_the_empty_search_page(client):
    response = client.get(reverse("articles:search"))
    assertContains(response, "Type a word or two")


def test_a_query_that_matches_nothing_says_so(client, make_article):
    make_article(title="Sleep and mood")
    response = search(client, "<b>zebra</b>")
    assertContains(response, "No articles match “&lt;b&gt;zebra&lt;/b&gt;”.")


def test_a_long_query_is_cut_to_200_characters_and_says_so(client, make_article):
    make_article(title="Sleep and mood")
    response = search(client, "sleep " + "x" * 300)
    assert response.status_code == HTTPStatus.OK
    assert len(response.context["query"]) == 200
    assertContains(response, "only its first 200 characters were used")


def test_a_200_character_query_is_not_said_to_be_cut(client):
    response = search(client, "x" * 200)
    assert len(response.context["query"]) == 200
    assertNotContains(response, "first 200 characters")


def test_a_query_with_nul_is_refused(client):
    assert search(client, "sleep\x00").status_code == HTTPStatus.BAD_REQUEST


# The page


def test_results_are_paginated_and_page_links_keep_the_query(client, make_article, settings):
    for _ in range(settings.ARTICLES_PER_PAGE + 1):
        make_article(title="Sleep and mood")
    first = search(client, "sleep & mood")
    second = search(client, "sleep & mood", page=2)
    assert len(first.context["article_list"]) == settings.ARTICLES_PER_PAGE
    assert len(second.context["article_list"]) == 1
    assertInHTML('<a href="?q=sleep%20%26%20mood&amp;page=2" rel="next">Next page</a>', first.text)
    assertInHTML(
        '<a href="?q=sleep%20%26%20mood&amp;page=1" rel="prev">Previous page</a>', second.text
    )


def test_other_lists_keep_their_plain_page_links(client, make_article, settings):
    for _ in range(settings.ARTICLES_PER_PAGE + 1):
        make_article()
    response = client.get(reverse("articles:index"))
    assertInHTML('<a href="?page=2" rel="next">Next page</a>', response.text)


def test_the_search_page_is_not_indexed_by_search_engines(client, make_article):
    make_article(title="Sleep and mood")
    assertContains(search(client, "sleep"), '<meta name="robots" content="noindex">', html=True)


def test_the_search_page_is_a_shared_page(client):
    response = search(client, "sleep")
    assert "public" in response["Cache-Control"]
    assert "csrfmiddlewaretoken" not in response.text
    assert not response.cookies


def test_search_query_count_does_not_grow_with_results(
    client, make_article, topic, django_assert_max_num_queries
):
    author = Contributor.objects.create(name="Ada Okafor", slug="ada-okafor")
    for _ in range(8):
        make_article(title="Sleep and mood", topic=topic, author=author)
    # PostgreSQL: matching topics, matching authors, the count, the page; SQLite: the last two.
    # Both: the header's topics.
    with django_assert_max_num_queries(5 if connection.vendor == "postgresql" else 3):
        response = search(client, "sleep")
    assert len(found(response)) == 8


# The search box


SEARCH_BOX = """
<form class="site-search" role="search" aria-label="Site" action="/search/" method="get">
  <label for="site-search-q">Search articles</label>
  <input type="search" id="site-search-q" name="q" maxlength="200">
  <button type="submit">Search</button>
</form>
"""


def test_every_page_header_has_a_search_box(client, make_article):
    assertInHTML(SEARCH_BOX, client.get(reverse("articles:index")).text)


def test_the_404_page_has_a_search_form(client):
    response = client.get("/no/such/page/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assertInHTML(
        """
        <form class="search-form" role="search" aria-label="Search articles"
              action="/search/" method="get">
          <label for="not-found-q">Search the articles instead</label>
          <input type="search" id="not-found-q" name="q" maxlength="200">
          <button type="submit">Search</button>
        </form>
        """,
        response.text,
    )


def test_the_search_page_form_keeps_the_query(client):
    response = search(client, 'sleep "deep"')
    assertInHTML(
        '<input type="search" id="search-page-q" name="q" value="sleep &quot;deep&quot;"'
        ' maxlength="200">',
        response.text,
    )


# The index's migration (0009): PostgreSQL only, and reversible


def search_index_exists():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'article_search'")
        return cursor.fetchone() is not None


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_search_index_migration_can_be_undone_and_redone():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("articles", "0008_body_images")])
    assert not search_index_exists()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert search_index_exists()
