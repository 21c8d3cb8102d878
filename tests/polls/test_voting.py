"""Voting through the form, as a browser without JavaScript does it.

The poll page is the same for every reader (no CSRF token, no cookie); the vote answers with a
303 to the voter's own page, /polls/<slug>/voted/, which carries the page to go back to.
"""

import datetime
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from polls.models import Poll, Vote
from polls.voters import COOKIE_MAX_AGE, COOKIE_NAME

pytestmark = pytest.mark.django_db


def vote_url(poll):
    return reverse("polls:vote", args=[poll.slug])


def voted_url(poll, next_url=None):
    url = reverse("polls:voted", args=[poll.slug])
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def state_url(poll):
    return reverse("polls:state", args=[poll.slug])


def counts(poll):
    return list(poll.choices.with_votes().values_list("votes", flat=True))


BACK_LINK = "Back to the page you were reading"


# The poll page: the same for every reader


def test_poll_page_shows_the_question_as_a_fieldset_with_labelled_choices(client, poll):
    response = client.get(poll.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert f'<form class="poll-form" method="post" action="{vote_url(poll)}">' in text
    assert f'<legend class="poll-question">{poll.question}</legend>' in text
    for choice in poll.choices.all():
        field_id = f"poll-{poll.slug}-choice-{choice.pk}"
        assert f'value="{choice.pk}" id="{field_id}">' in text
        assert f'<label for="{field_id}">{choice.text}</label>' in text
    assert f'<input type="hidden" name="next" value="{poll.get_absolute_url()}">' in text
    assert f'data-poll="{poll.pk}" data-poll-state="{state_url(poll)}"' in text
    assert "Total votes: 0" in text
    assert "See the results so far" in text


def test_the_poll_form_carries_no_csrf_token_and_the_page_sets_no_cookie(client, poll):
    response = client.get(poll.get_absolute_url())
    assert "csrfmiddlewaretoken" not in response.text
    assert not response.cookies
    assert "public" in response["Cache-Control"]
    assert "private" not in response["Cache-Control"]


def test_a_reader_who_has_voted_gets_the_same_poll_page_as_a_new_reader(poll):
    voter = Client()
    voter.post(vote_url(poll), {"choice": poll.choices.first().pk})
    cache.clear()  # rendered for the voter, not served from the page cache
    theirs = voter.get(poll.get_absolute_url())
    cache.clear()
    new = Client().get(poll.get_absolute_url())
    assert theirs.content == new.content
    assert '<form class="poll-form"' in theirs.text
    for voters_only in ("You have voted", "Thank you for voting", "(your answer)"):
        assert voters_only not in theirs.text
    assert "Total votes: 1" in theirs.text
    assert not theirs.cookies


def test_an_open_poll_with_results_after_the_vote_shows_no_results_link(client, make_poll):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_VOTE)
    text = client.get(poll.get_absolute_url()).text
    assert '<form class="poll-form"' in text
    assert "See the results so far" not in text
    assert "Total votes: 0" in text


def test_a_closed_poll_page_shows_results_and_no_form(client, make_poll, now):
    poll = make_poll(closes_at=now - datetime.timedelta(seconds=1))
    response = client.get(poll.get_absolute_url())
    assert "This poll closed on" in response.text
    assert '<form class="poll-form"' not in response.text
    assert '<ul class="poll-results"' in response.text


def test_a_scheduled_poll_is_not_found_by_the_public_but_staff_preview_it(
    client, admin_client, make_poll, now
):
    poll = make_poll(opens_at=now + datetime.timedelta(days=1))
    for name in ("polls:detail", "polls:results", "polls:results_json", "polls:state"):
        url = reverse(name, args=[poll.slug])
        assert client.get(url).status_code == HTTPStatus.NOT_FOUND, name
        assert admin_client.get(url).status_code == HTTPStatus.OK, name
    assert client.get(voted_url(poll)).status_code == HTTPStatus.NOT_FOUND
    assert "This poll opens on" in admin_client.get(poll.get_absolute_url()).text


def test_post_to_the_poll_page_or_results_is_a_405(client, poll):
    for url in (poll.get_absolute_url(), reverse("polls:results", args=[poll.slug])):
        assert client.post(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


# A vote that counts


def test_a_vote_sends_the_voter_to_their_results_with_the_page_to_return_to(client, poll):
    choice = poll.choices.all()[1]
    response = client.post(vote_url(poll), {"choice": choice.pk, "next": "/articles/some-article/"})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response["Location"] == (f"/polls/{poll.slug}/voted/?next=%2Farticles%2Fsome-article%2F")
    assert counts(poll) == [0, 1, 0]


def test_after_voting_the_visitor_sees_their_answer_the_results_and_a_thank_you(client, poll):
    choice = poll.choices.all()[1]
    response = client.post(
        vote_url(poll), {"choice": choice.pk, "next": "/articles/some-article/"}, follow=True
    )
    assert response.redirect_chain == [
        (voted_url(poll, "/articles/some-article/"), HTTPStatus.SEE_OTHER)
    ]
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert "Thank you for voting." in text
    assert f"Your answer: <strong>{choice.text}</strong>" in text
    assert f'{choice.text} <strong class="poll-own-answer">(your answer)</strong>' in text
    assert text.count("(your answer)") == 1
    assert "100% (1 vote)" in text
    assert "Total votes: 1" in text
    assert f'<a href="/articles/some-article/#poll-{poll.slug}">{BACK_LINK}</a>' in text
    assert '<form class="poll-form"' not in text


def test_without_a_next_page_the_vote_lands_on_the_voted_page_without_a_way_back(client, poll):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response["Location"] == voted_url(poll)
    assert BACK_LINK not in client.get(response["Location"]).text


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/phish",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "https://testserver@evil.example/",
        "/\t/evil.example/",
        "/x\x00",
    ],
)
def test_a_next_page_on_another_site_or_unsafe_is_dropped(client, poll, next_url):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk, "next": next_url})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response["Location"] == voted_url(poll)
    # Nor is it followed when it is put in the voted page's address by hand.
    page = client.get(reverse("polls:voted", args=[poll.slug]), {"next": next_url})
    # A NUL in an address is refused outright (psyweb.middleware.UnreadableInputMiddleware).
    expected = HTTPStatus.BAD_REQUEST if "\x00" in next_url else HTTPStatus.OK
    assert page.status_code == expected
    assert BACK_LINK not in page.text
    assert "evil.example" not in page.text
    assert counts(poll) == [1, 0, 0]


@pytest.mark.parametrize("next_url", ["/x\r\nSet-Cookie: a=b", "/%0d%0aLocation:x", "/x\nb"])
def test_a_next_page_with_line_breaks_never_breaks_the_vote_or_the_headers(client, poll, next_url):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk, "next": next_url})
    assert response.status_code == HTTPStatus.SEE_OTHER
    location = response["Location"]
    assert "\r" not in location
    assert "\n" not in location
    assert location.startswith(f"/polls/{poll.slug}/voted/")
    assert "a" not in response.cookies
    assert "Set-Cookie: a" not in str(response.headers)
    assert counts(poll) == [1, 0, 0]
    page = client.get(location)
    assert page.status_code == HTTPStatus.OK
    assert "a" not in page.cookies


def test_a_next_page_that_is_the_vote_address_is_not_followed(client, poll):
    response = client.post(
        vote_url(poll), {"choice": poll.choices.first().pk, "next": vote_url(poll)}
    )
    assert response["Location"] == voted_url(poll)


def test_a_next_page_keeps_its_query_but_not_its_fragment(client, poll):
    response = client.post(
        vote_url(poll), {"choice": poll.choices.first().pk, "next": "/?page=2#elsewhere"}
    )
    assert response["Location"] == voted_url(poll, "/?page=2")
    assert f'<a href="/?page=2#poll-{poll.slug}">' in client.get(response["Location"]).text


def test_distinct_visitors_each_get_counted(poll):
    for _ in range(3):
        assert Client().post(vote_url(poll), {"choice": poll.choices.first().pk}).status_code == (
            HTTPStatus.SEE_OTHER
        )
    assert counts(poll) == [3, 0, 0]


def test_a_signed_in_user_votes_without_a_voter_cookie(client, poll, admin_user):
    client.force_login(admin_user)
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert COOKIE_NAME not in response.cookies
    assert Vote.objects.count() == 1
    assert "Thank you for voting." in client.get(response["Location"]).text


# The voter token


def test_the_vote_gives_a_new_visitor_a_signed_httponly_lax_voter_cookie(client, poll):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == COOKIE_MAX_AGE
    assert ":" in cookie.value  # token:signature


def test_a_visitor_who_holds_a_token_keeps_it_when_voting(client, poll):
    client.get(state_url(poll))
    token = client.cookies[COOKIE_NAME].value
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert COOKIE_NAME not in response.cookies
    assert client.cookies[COOKIE_NAME].value == token


def test_a_forged_voter_cookie_gets_a_fresh_token_not_someone_elses_ballot(poll):
    voter = Client()
    voter.post(vote_url(poll), {"choice": poll.choices.first().pk})
    token = voter.cookies[COOKIE_NAME].value.split(":")[0]
    for forged in ("forged-token", token, f"{token}:forged-signature"):
        visitor = Client()
        visitor.cookies[COOKIE_NAME] = forged
        response = visitor.post(vote_url(poll), {"choice": poll.choices.first().pk})
        assert response.status_code == HTTPStatus.SEE_OTHER, forged
        assert response.cookies[COOKIE_NAME].value != forged
    assert counts(poll) == [4, 0, 0]


def test_a_vote_refused_for_a_missing_answer_still_gives_the_token(client, poll):
    refused = client.post(vote_url(poll), {})
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    token = refused.cookies[COOKIE_NAME].value
    counted = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert counted.status_code == HTTPStatus.SEE_OTHER
    assert COOKIE_NAME not in counted.cookies  # the same token was used
    assert client.cookies[COOKIE_NAME].value == token


# One ballot per voter


def test_a_second_vote_by_the_same_visitor_is_refused_with_their_answer(client, poll):
    first, second, _ = poll.choices.all()
    client.post(vote_url(poll), {"choice": first.pk})
    response = client.post(vote_url(poll), {"choice": second.pk, "next": "/articles/a/"})
    assert response.status_code == HTTPStatus.CONFLICT
    assert "polls/voted.html" in [t.name for t in response.templates]
    text = response.text
    assert "You have already voted in this poll." in text
    assert "Thank you for voting." not in text
    assert f"Your answer: <strong>{first.text}</strong>" in text
    assert f'{first.text} <strong class="poll-own-answer">(your answer)</strong>' in text
    assert "Total votes: 1" in text
    assert f'<a href="/articles/a/#poll-{poll.slug}">{BACK_LINK}</a>' in text
    assert counts(poll) == [1, 0, 0]


def test_a_second_click_after_the_first_answer_is_refused(client, poll):
    """The first answer gives a new visitor their token; the next click carries it."""
    first = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    second = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert (first.status_code, second.status_code) == (HTTPStatus.SEE_OTHER, HTTPStatus.CONFLICT)
    assert counts(poll) == [1, 0, 0]


def test_two_clicks_of_a_visitor_given_a_token_by_the_island_count_once(poll):
    visitor = Client()
    visitor.get(state_url(poll))  # the poll island asks first, on the first touch of the form
    cookies = visitor.cookies
    statuses = []
    for _ in range(2):  # two clicks sent before either is answered: the same cookies
        click = Client()
        click.cookies = cookies
        statuses.append(click.post(vote_url(poll), {"choice": poll.choices.first().pk}).status_code)
    assert statuses == [HTTPStatus.SEE_OTHER, HTTPStatus.CONFLICT]
    assert counts(poll) == [1, 0, 0]


def test_a_signed_in_user_cannot_vote_again_from_another_browser(poll, admin_user):
    first, second = Client(), Client()
    first.force_login(admin_user)
    second.force_login(admin_user)
    first.post(vote_url(poll), {"choice": poll.choices.first().pk})
    response = second.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.CONFLICT
    assert Vote.objects.count() == 1


# Ballots that are refused


def test_no_choice_picked_shows_the_form_again_with_a_message_and_the_way_back(client, poll):
    response = client.post(vote_url(poll), {"next": "/articles/some-article/"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    text = response.text
    assert "Please choose an answer before voting." in text
    assert f'<fieldset aria-describedby="poll-{poll.slug}-error">' in text
    assert f'id="poll-{poll.slug}-error" role="alert">Please choose an answer' in text
    assert '<form class="poll-form"' in text
    assert text.count('type="radio" name="choice"') == 3
    assert f'<a href="/articles/some-article/">{BACK_LINK}</a>' in text
    assert not Vote.objects.exists()


def test_no_choice_picked_without_a_safe_next_page_shows_no_way_back(client, poll):
    for sent in ({}, {"next": "https://evil.example/"}):
        response = client.post(vote_url(poll), sent)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert BACK_LINK not in response.text
        assert "evil.example" not in response.text


def test_the_form_shown_again_keeps_the_page_to_return_to(client, poll):
    response = client.post(vote_url(poll), {"next": "/articles/some-article/"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'name="next" value="/articles/some-article/"' in response.text


@pytest.mark.parametrize("sent", [{}, {"choice": "abc"}])
def test_a_voter_who_sends_the_form_again_without_a_valid_answer_is_told_they_voted(
    client, poll, sent
):
    """The shared page shows them the form again; they are told why, not shown an empty form."""
    first = poll.choices.first()
    client.post(vote_url(poll), {"choice": first.pk})
    response = client.post(vote_url(poll), sent)
    assert response.status_code == HTTPStatus.CONFLICT
    assert "You have already voted in this poll." in response.text
    assert f"Your answer: <strong>{first.text}</strong>" in response.text
    assert counts(poll) == [1, 0, 0]


@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "", " ", "0x1", "1e3", "\x00", "9" * 40])
def test_a_choice_that_is_not_a_whole_number_of_this_poll_is_a_400(client, poll, value):
    response = client.post(vote_url(poll), {"choice": value})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Vote.objects.exists()


def test_a_choice_of_another_poll_is_a_400(client, poll, make_poll):
    other = make_poll()
    response = client.post(vote_url(poll), {"choice": other.choices.first().pk})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "That answer is not one of this poll" in response.text
    assert not Vote.objects.exists()


def test_several_choice_values_are_a_400(client, poll):
    first, second, _ = poll.choices.all()
    response = client.post(vote_url(poll), {"choice": [first.pk, second.pk]})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose only one answer." in response.text
    assert not Vote.objects.exists()


def test_an_unknown_poll_is_a_404(client):
    response = client.post(reverse("polls:vote", args=["no-such-poll"]), {"choice": 1})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text


@pytest.mark.parametrize("with_choice", [True, False])
def test_a_closed_poll_says_so_and_counts_nothing(client, make_poll, now, with_choice):
    poll = make_poll(closes_at=now - datetime.timedelta(seconds=1))
    sent = {"choice": poll.choices.first().pk} if with_choice else {}
    response = client.post(vote_url(poll), sent)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "This poll has closed" in response.text
    assert '<form class="poll-form"' not in response.text
    assert not Vote.objects.exists()


def test_a_poll_closed_since_the_vote_shows_the_voter_their_answer(client, poll, now):
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    Poll.objects.filter(pk=poll.pk).update(closes_at=now - datetime.timedelta(seconds=1))
    response = client.post(vote_url(poll), {"choice": poll.choices.last().pk})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "This poll has closed" in response.text
    assert "(your answer)" in response.text
    assert counts(poll) == [1, 0, 0]


@pytest.mark.parametrize("sent", [{"choice": "first"}, {}, {"choice": "abc"}])
def test_a_poll_not_open_yet_says_so_shows_nothing_of_it_and_counts_nothing(
    client, make_poll, now, sent
):
    poll = make_poll(
        question="Secret question?", opens_at=now + datetime.timedelta(hours=1), choices=["Hidden"]
    )
    if sent.get("choice") == "first":
        sent = {"choice": poll.choices.first().pk}
    response = client.post(vote_url(poll), sent)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "This poll is not open for voting yet." in response.text
    assert "Secret question?" not in response.text
    assert "Hidden" not in response.text
    assert not Vote.objects.exists()


# Methods


@pytest.mark.parametrize("method", ["get", "options", "put", "patch", "delete"])
def test_other_methods_on_the_vote_address_are_405_with_the_sites_page(poll, method):
    response = getattr(Client(enforce_csrf_checks=True), method)(vote_url(poll))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "POST"
    assert "This page cannot do that" in response.text
    assert COOKIE_NAME not in response.cookies
    assert not Vote.objects.exists()


# Cost


def test_poll_pages_query_counts_are_pinned(client, poll, django_assert_max_num_queries):
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    # The poll, its choices: the same page for every reader, so no "has voted?".
    with django_assert_max_num_queries(3):  # the poll, its answers, the header's topics
        page = client.get(poll.get_absolute_url())
    assert page.context is not None  # rendered, not served from the page cache
    with django_assert_max_num_queries(3):
        page = client.get(reverse("polls:results", args=[poll.slug]))
    assert page.context is not None


def test_the_vote_query_count_is_pinned(poll, django_assert_max_num_queries):
    # poll, choices, INSERT ballot, INSERT its answer, UPDATE the answer's count, the day's
    # tally (one upsert), the savepoint pair (a visitor without a token has no ballot to look
    # for); and the address's first vote this hour: an UPDATE that finds no count, the DELETE
    # of past hours, and the count's INSERT in its savepoint pair.
    with django_assert_max_num_queries(13):
        response = Client().post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.SEE_OTHER
    visitor = Client()
    visitor.get(state_url(poll))
    # A visitor holding a token: "has voted?" too; the address's count is one UPDATE.
    with django_assert_max_num_queries(10):
        response = visitor.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.SEE_OTHER
    # A repeat: poll, choices, "has voted?" twice, the answer's text for the page.
    with django_assert_max_num_queries(5):
        response = visitor.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.CONFLICT


def test_a_reader_who_voted_then_signed_in_cannot_vote_again(poll, django_user_model):
    reader = Client()
    reader.post(vote_url(poll), {"choice": poll.choices.first().pk})
    reader.force_login(django_user_model.objects.create_user("reader"))

    response = reader.post(vote_url(poll), {"choice": poll.choices.last().pk})

    assert response.status_code == HTTPStatus.CONFLICT
    assert counts(poll) == [1, 0, 0]
