"""The "PsyWeb Poll" box beside articles and on the home page."""

import datetime
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from articles.models import Article

pytestmark = pytest.mark.django_db


def test_an_article_shows_the_poll_staff_attached(client, make_article, make_poll):
    make_poll(question="Featured?", is_featured=True)
    own = make_poll(question="Do you sleep well?")
    response = client.get(make_article(poll=own).get_absolute_url())
    assert '<h2 id="poll-' in response.text
    assert "PsyWeb Poll</h2>" in response.text
    assert "Do you sleep well?" in response.text
    assert "Featured?" not in response.text


def test_an_article_without_a_poll_shows_the_featured_one(client, make_article, make_poll):
    make_poll(question="Featured?", is_featured=True)
    response = client.get(make_article().get_absolute_url())
    assert "Featured?" in response.text


def test_the_home_page_shows_the_featured_poll(client, make_poll):
    poll = make_poll(question="Featured?", is_featured=True)
    response = client.get(reverse("articles:index"))
    assert f'action="{reverse("polls:vote", args=[poll.slug])}"' in response.text
    assert "Featured?" in response.text


def test_a_scheduled_poll_attached_to_an_article_stays_private_until_it_opens(
    client, make_article, make_poll, now
):
    make_poll(question="Featured?", is_featured=True)
    scheduled = make_poll(question="Scheduled?", opens_at=now + datetime.timedelta(days=1))
    article = make_article(poll=scheduled)

    response = client.get(article.get_absolute_url())

    assert "Scheduled?" not in response.text
    assert scheduled.slug not in response.text
    assert "Featured?" in response.text  # meanwhile the article shows the featured poll


def test_a_scheduled_featured_poll_stays_private_until_it_opens(
    client, make_article, make_poll, now
):
    make_poll(question="Scheduled?", is_featured=True, opens_at=now + datetime.timedelta(hours=1))
    for url in (reverse("articles:index"), make_article().get_absolute_url()):
        response = client.get(url)
        assert "Scheduled?" not in response.text
        assert "PsyWeb Poll</h2>" not in response.text


def test_without_any_poll_there_is_no_poll_box(client, make_article):
    response = client.get(make_article().get_absolute_url())
    assert "PsyWeb Poll" not in response.text


def test_the_box_is_the_same_for_every_reader_with_no_token_and_no_cookie(make_article, poll):
    article = make_article(poll=poll)
    voter = Client()
    voter.post(reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk})
    cache.clear()  # rendered for the voter, not served from the page cache
    theirs = voter.get(article.get_absolute_url())
    cache.clear()
    new = Client().get(article.get_absolute_url())
    assert theirs.content == new.content
    assert not theirs.cookies
    assert "csrfmiddlewaretoken" not in theirs.text
    box = theirs.text[theirs.text.index('<aside class="box poll-box"') :]
    assert box.startswith(
        f'<aside class="box poll-box" id="poll-{poll.slug}" tabindex="-1" '
        f'aria-label="PsyWeb Poll: {poll.question}" data-poll="{poll.pk}" '
        f'data-poll-state="{reverse("polls:state", args=[poll.slug])}">'
    )
    assert '<form class="poll-form"' in box  # the island shows a voter their results
    assert "You have voted" not in box
    assert "(your answer)" not in box
    assert "Total votes: 1" in box


def test_voting_in_the_box_lands_on_the_results_with_a_way_back_to_the_article(
    make_article, make_poll
):
    poll = make_poll(is_featured=True)
    article = make_article()
    visitor = Client()
    page = visitor.get(article.get_absolute_url())
    assert f'name="next" value="{article.get_absolute_url()}"' in page.text
    answer = poll.choices.last()
    response = visitor.post(
        reverse("polls:vote", args=[poll.slug]),
        {"choice": answer.pk, "next": article.get_absolute_url()},
        follow=True,
    )
    voted = reverse("polls:voted", args=[poll.slug])
    assert response.redirect_chain == [
        (f"{voted}?{urlencode({'next': article.get_absolute_url()})}", HTTPStatus.SEE_OTHER)
    ]
    assert "Thank you for voting." in response.text
    assert f"Your answer: <strong>{answer.text}</strong>" in response.text
    assert "Total votes: 1" in response.text
    assert "100% (1 vote)" in response.text
    back = f'<a href="{article.get_absolute_url()}#poll-{poll.slug}">'
    assert f"{back}Back to the page you were reading</a>" in response.text


def test_demo_article_shows_the_seed_poll(client):
    call_command("load_demo", verbosity=0)
    response = client.get(Article.objects.get().get_absolute_url())
    assert (
        '<legend class="poll-question">Are you currently taking or have you ever been '
        "prescribed anti-depressants?</legend>"
    ) in response.text
    for answer in ("Yes, currently", "Yes, in the past", "No, never"):
        assert f">{answer}</label>" in response.text
    assert "Total votes: 0" in response.text


def test_article_page_with_poll_query_count_is_pinned(
    make_article, make_poll, default_disclaimer, django_assert_max_num_queries
):
    poll = make_poll()
    article = make_article(poll=poll)
    visitor = Client()
    visitor.post(reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk})
    # article with its poll and people, the poll's choices, the article's references, the
    # default disclaimer, the related articles: no "has voted?", the page is the same for
    # every reader.
    with django_assert_max_num_queries(6):  # with the header's topics
        page = visitor.get(article.get_absolute_url())
    assert page.context is not None  # rendered, not served from the page cache


def test_home_page_with_poll_query_count_is_pinned(
    client, make_article, make_poll, django_assert_max_num_queries
):
    make_poll(is_featured=True)
    for _ in range(5):
        make_article()
    # articles, their count for pagination, the featured poll, its choices
    with django_assert_max_num_queries(5):  # with the header's topics
        page = client.get(reverse("articles:index"))
    assert page.context is not None
