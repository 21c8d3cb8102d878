"""What tells a reader whom to trust: byline, medical review, dates, contents, crisis help."""

import datetime
from http import HTTPStatus

import pytest
from django.core.cache import caches
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains

from articles.models import Article, Contributor, CrisisNotice

from .utils import references_formset

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(db):
    return Contributor.objects.create(
        name="Ada Reyes", slug="ada-reyes", credentials="PhD, clinical psychologist", bio="Ada."
    )


@pytest.fixture
def reviewer(db):
    return Contributor.objects.create(name="Sam Okafor", slug="sam-okafor", credentials="MD")


def test_the_byline_names_the_author_with_credentials_and_links_their_page(
    client, make_article, writer
):
    response = client.get(make_article(author=writer).get_absolute_url())
    assert (
        '<p class="article-byline">By <a href="/authors/ada-reyes/" rel="author">Ada Reyes</a>, '
        "PhD, clinical psychologist</p>"
    ) in response.text


def test_the_medical_review_shows_only_when_staff_set_it(client, make_article, reviewer):
    reviewed = make_article(medical_reviewer=reviewer, last_reviewed=datetime.date(2026, 11, 2))
    plain = make_article()

    assert "Medically reviewed by" in client.get(reviewed.get_absolute_url()).text
    assert (
        'on <time datetime="2026-11-02">2 November 2026</time>'
        in client.get(reviewed.get_absolute_url()).text
    )
    assert "Medically reviewed by" not in client.get(plain.get_absolute_url()).text


def test_a_medical_review_needs_both_the_reviewer_and_the_date(make_article, reviewer):
    with pytest.raises(IntegrityError):
        make_article(medical_reviewer=reviewer)


def test_updated_shows_only_after_a_significant_change(client, make_article):
    article = make_article()
    assert "Updated" not in client.get(article.get_absolute_url()).text

    Article.objects.filter(pk=article.pk).update(revised_at=timezone.now())
    for cache in caches.all():
        cache.clear()  # the page above was kept for every reader
    assert "· Updated <time" in client.get(article.get_absolute_url()).text


def test_ticking_significant_update_in_the_admin_sets_the_updated_date(
    admin_client, make_article, topic
):
    article = make_article(topic=topic)
    url = reverse("admin:articles_article_change", args=[article.pk])
    form = {
        "title": article.title,
        "slug": article.slug,
        "summary": article.summary,
        "body": article.body,
        "topic": topic.pk,
        "status": "published",
        "published_at_0": article.published_at.strftime("%Y-%m-%d"),
        "published_at_1": article.published_at.strftime("%H:%M:%S"),
        **references_formset(),
    }

    admin_client.post(url, form)
    article.refresh_from_db()
    assert article.revised_at is None  # a typo fix

    admin_client.post(url, {**form, "significant_update": "on"})
    article.refresh_from_db()
    assert article.revised_at is not None
    assert article.was_revised()


def test_every_article_shows_its_reading_time(client, make_article):
    article = make_article(body="word " * 1000)
    assert "· 5 min read" in client.get(article.get_absolute_url()).text


def test_long_articles_get_a_table_of_contents_from_their_headings(client, make_article):
    long = make_article(body="## Signs\n\nA.\n\n## Causes\n\nB.\n\n## Getting help\n\nC.")
    short = make_article(body="## Signs\n\nA.\n\n## Causes\n\nB.")

    text = client.get(long.get_absolute_url()).text
    assert '<h2 id="contents-title">Contents</h2>' in text
    assert '<li><a href="#section-getting-help">Getting help</a></li>' in text
    assert "Contents</h2>" not in client.get(short.get_absolute_url()).text


def test_articles_in_sensitive_topics_show_the_crisis_notice(client, make_article, topic):
    CrisisNotice.objects.create(
        text="If you are in crisis, contact your local emergency number.",
        helpline_name="A helpline",
        helpline_number="000 111",
        helpline_url="https://help.example/",
    )
    topic.is_sensitive = True
    topic.save()
    sensitive = make_article(topic=topic)
    other = make_article()

    text = client.get(sensitive.get_absolute_url()).text
    assert "If you are in crisis, contact your local emergency number." in text
    assert '<a href="tel:000111">000 111</a>' in text
    assert "crisis-notice" not in client.get(other.get_absolute_url()).text


def test_there_is_one_crisis_notice(db):
    CrisisNotice.objects.create(text="One.")
    CrisisNotice(text="Two.").save()
    assert list(CrisisNotice.objects.values_list("text", flat=True)) == ["Two."]


def test_an_author_page_lists_their_published_articles_only(client, make_article, writer):
    make_article(title="Theirs", author=writer)
    make_article(title="Their draft", author=writer, status=Article.Status.DRAFT)
    make_article(title="Someone else's")

    response = client.get(writer.get_absolute_url())

    assert response.status_code == HTTPStatus.OK
    assert "PhD, clinical psychologist" in response.text
    assert "Theirs" in response.text
    assert "Their draft" not in response.text
    assert "Someone else" not in response.text
    assert response.cookies == {}


def test_an_unknown_author_is_not_found(client):
    assert client.get("/authors/nobody/").status_code == HTTPStatus.NOT_FOUND


def test_the_admin_list_says_scheduled_for_and_counts_and_filters_them(admin_client, make_article):
    make_article(title="Soon", published_at=timezone.now() + datetime.timedelta(days=2))
    make_article(title="Out now")
    make_article(title="Draft", status=Article.Status.DRAFT)
    url = reverse("admin:articles_article_changelist")

    everything = admin_client.get(url).text
    assert "Scheduled for " in everything
    assert "Scheduled (1)" in everything
    assert "Published (1)" in everything
    assert "Draft (1)" in everything
    scheduled = admin_client.get(url, {"publication": "scheduled"}).context["cl"].result_list
    assert [article.title for article in scheduled] == ["Soon"]


def test_references_are_numbered_and_citations_link_to_them_and_back(client, make_article):
    article = make_article(body="Rejection hurts[^2], and stays[^1], as shown[^2].")
    article.references.create(order=1, title="A foundation", url="https://foundation.example/")
    article.references.create(
        order=2, title="A study", publisher="A journal", year=2018, note="Mice and people."
    )

    response = client.get(article.get_absolute_url())

    assertContains(
        response,
        '<sup><a href="#ref-2" id="section-cite-2-1" title="Reference 2" '
        'rel="noopener noreferrer">[2]</a></sup>',
        html=True,
    )
    assertContains(
        response,
        '<li id="ref-2">A study. A journal (2018). Mice and people.'
        '<a class="back-to-text" href="#section-cite-2-1" '
        'aria-label="Back to the text, citation 1">↩</a>'
        '<a class="back-to-text" href="#section-cite-2-2" '
        'aria-label="Back to the text, citation 2">↩</a></li>',
        html=True,
    )
    assertContains(
        response,
        '<p class="article-source">Source: <a href="https://foundation.example/" '
        'rel="noopener noreferrer">A foundation</a></p>',
        html=True,
    )


def test_an_article_without_references_has_no_source_line(client, make_article):
    response = client.get(make_article().get_absolute_url())
    assert "article-source" not in response.text
    assert "References</h2>" not in response.text
