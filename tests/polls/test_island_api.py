"""What the poll island (static/js/polls.js) reads and sends, and the voted page.

GET /polls/<slug>/state.json is one visitor's view of a poll, never kept by a cache; the vote
answers JSON when asked with `Accept: application/json`; /polls/<slug>/voted/ is where a vote
sent without JavaScript lands.
"""

import datetime
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from polls.models import Poll, Vote
from polls.voters import COOKIE_NAME

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}
STATE_KEYS = {
    "question",
    "total_votes",
    "is_open",
    "results_visible",
    "results_published",
    "choices",
    "voted",
    "own_choices",
    "total_answers",
    "max_choices",
}


def state_url(poll):
    return reverse("polls:state", args=[poll.slug])


def vote_url(poll):
    return reverse("polls:vote", args=[poll.slug])


def voted_url(poll):
    return reverse("polls:voted", args=[poll.slug])


def counts(poll):
    return list(poll.choices.with_votes().values_list("votes", flat=True))


def vote_json(client, poll, choice=None, **data):
    if choice is not None:
        data["choice"] = choice.pk
    return client.post(vote_url(poll), data, headers=JSON)


def assert_private(response):
    cache_control = response["Cache-Control"]
    for directive in ("private", "no-store", "no-cache", "max-age=0"):
        assert directive in cache_control, cache_control
    assert "public" not in cache_control


# state.json


def test_state_of_a_new_visitor_has_the_documented_shape(client, poll):
    response = client.get(state_url(poll))
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    first, second, third = poll.choices.all()
    assert response.json() == {
        "question": poll.question,
        "total_votes": 0,
        "total_answers": 0,
        "max_choices": 1,
        "is_open": True,
        "results_visible": True,
        "results_published": True,
        "choices": [
            {"id": first.pk, "text": first.text, "votes": 0, "percent": 0},
            {"id": second.pk, "text": second.text, "votes": 0, "percent": 0},
            {"id": third.pk, "text": third.text, "votes": 0, "percent": 0},
        ],
        "voted": False,
        "own_choices": [],
    }


def test_state_is_private_to_the_visitor(client, poll):
    assert_private(client.get(state_url(poll)))
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert_private(client.get(state_url(poll)))


def test_state_gives_a_new_visitor_their_voter_token_once(client, poll):
    first = client.get(state_url(poll))
    cookie = first.cookies[COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    again = client.get(state_url(poll))
    assert COOKIE_NAME not in again.cookies  # kept, not replaced
    assert client.cookies[COOKIE_NAME].value == cookie.value


def test_state_replaces_a_forged_token(poll):
    visitor = Client()
    visitor.cookies[COOKIE_NAME] = "forged-token"
    response = visitor.get(state_url(poll))
    assert response.json()["voted"] is False
    assert response.cookies[COOKIE_NAME].value != "forged-token"


def test_the_token_from_state_is_the_one_the_vote_is_counted_under(client, poll):
    client.get(state_url(poll))
    first = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert COOKIE_NAME not in first.cookies
    second = vote_json(client, poll, poll.choices.last())
    assert second.status_code == HTTPStatus.CONFLICT
    assert counts(poll) == [1, 0, 0]


def test_state_marks_the_visitors_own_answer(client, poll):
    first, second, _ = poll.choices.all()
    Client().post(vote_url(poll), {"choice": first.pk})
    client.post(vote_url(poll), {"choice": second.pk})
    data = client.get(state_url(poll)).json()
    assert (data["voted"], data["own_choices"]) == (True, [second.pk])
    assert data["total_votes"] == 2
    assert [(c["votes"], c["percent"]) for c in data["choices"]] == [(1, 50), (1, 50), (0, 0)]
    stranger = Client().get(state_url(poll)).json()
    assert (stranger["voted"], stranger["own_choices"]) == (False, [])


def test_state_of_a_signed_in_user_knows_their_vote_and_sets_no_cookie(client, poll, admin_user):
    client.force_login(admin_user)
    before = client.get(state_url(poll))
    assert COOKIE_NAME not in before.cookies
    assert before.json()["voted"] is False
    client.post(vote_url(poll), {"choice": poll.choices.last().pk})
    after = client.get(state_url(poll))
    assert (after.json()["voted"], after.json()["own_choices"]) == (True, [poll.choices.last().pk])
    assert COOKIE_NAME not in after.cookies


def test_state_of_a_closed_poll_gives_no_cookie(client, make_poll, now):
    poll = make_poll(closes_at=now - datetime.timedelta(seconds=1))
    response = client.get(state_url(poll))
    assert response.status_code == HTTPStatus.OK
    assert COOKIE_NAME not in response.cookies
    data = response.json()
    assert (data["is_open"], data["results_visible"], data["voted"]) == (False, True, False)


def test_state_withholds_counts_until_the_visitor_has_voted(client, make_poll):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_VOTE)
    Client().post(vote_url(poll), {"choice": poll.choices.first().pk})
    before = client.get(state_url(poll)).json()
    assert (before["total_votes"], before["results_visible"]) == (1, False)
    assert all(c["votes"] is None and c["percent"] is None for c in before["choices"])
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    after = client.get(state_url(poll)).json()
    assert after["results_visible"] is True
    assert after["choices"][0]["votes"] == 2


@pytest.mark.parametrize("slug", ["no-such-poll", "scheduled"])
def test_state_of_an_unknown_or_scheduled_poll_is_a_json_404(client, make_poll, now, slug):
    make_poll(slug="scheduled", opens_at=now + datetime.timedelta(days=1))
    response = client.get(reverse("polls:state", args=[slug]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "There is no poll at this address."}
    assert COOKIE_NAME not in response.cookies


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_state_only_reads(client, poll, method):
    response = getattr(client, method)(state_url(poll))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert not Vote.objects.exists()


def test_the_state_query_count_is_pinned(poll, django_assert_max_num_queries):
    voter = Client()
    voter.post(vote_url(poll), {"choice": poll.choices.first().pk})
    # The poll, its choices, the visitor's ballot.
    for visitor in (Client(), voter):
        with django_assert_max_num_queries(3):
            response = visitor.get(state_url(poll))
        assert response.status_code == HTTPStatus.OK


# Voting with JSON


def test_a_vote_sent_by_the_island_answers_its_state_with_thanks(client, poll):
    first, second, third = poll.choices.all()
    Client().post(vote_url(poll), {"choice": first.pk})
    response = vote_json(client, poll, second, next="/articles/a/")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "message": "Thank you for voting.",
        "question": poll.question,
        "total_votes": 2,
        "total_answers": 2,
        "max_choices": 1,
        "is_open": True,
        "results_visible": True,
        "results_published": True,
        "choices": [
            {"id": first.pk, "text": first.text, "votes": 1, "percent": 50},
            {"id": second.pk, "text": second.text, "votes": 1, "percent": 50},
            {"id": third.pk, "text": third.text, "votes": 0, "percent": 0},
        ],
        "voted": True,
        "own_choices": [second.pk],
    }
    assert_private(response)
    assert COOKIE_NAME in response.cookies  # a first-time visitor without state.json


def test_a_vote_sent_by_the_island_where_results_wait_for_the_close(client, make_poll):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_CLOSE)
    data = vote_json(client, poll, poll.choices.first()).json()
    assert (data["voted"], data["own_choices"]) == (True, [poll.choices.first().pk])
    assert (data["total_votes"], data["results_visible"]) == (1, False)
    assert all(c["votes"] is None and c["percent"] is None for c in data["choices"])


def test_an_island_vote_without_an_answer_is_a_400_with_the_message(client, poll):
    response = vote_json(client, poll)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    data = response.json()
    assert data.pop("error") == "Please choose an answer before voting."
    assert set(data) == STATE_KEYS
    assert (data["voted"], data["is_open"]) == (False, True)
    assert not Vote.objects.exists()


@pytest.mark.parametrize("value", ["abc", "-1", "9" * 40])
def test_an_island_vote_with_an_answer_not_of_this_poll_is_a_400(client, poll, value):
    response = client.post(vote_url(poll), {"choice": value}, headers=JSON)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "error" in response.json()
    assert not Vote.objects.exists()


def test_a_second_island_vote_is_a_409_with_the_first_answer(client, poll):
    first, second, _ = poll.choices.all()
    vote_json(client, poll, first)
    response = vote_json(client, poll, second)
    assert response.status_code == HTTPStatus.CONFLICT
    data = response.json()
    assert data.pop("error") == (
        "You have already voted in this poll. Your first vote was counted."
    )
    assert set(data) == STATE_KEYS
    assert (data["voted"], data["own_choices"], data["total_votes"]) == (True, [first.pk], 1)
    assert counts(poll) == [1, 0, 0]


def test_an_island_vote_without_an_answer_from_a_voter_is_a_409_with_their_answer(client, poll):
    first = poll.choices.first()
    vote_json(client, poll, first)
    response = vote_json(client, poll)
    assert response.status_code == HTTPStatus.CONFLICT
    assert (response.json()["voted"], response.json()["own_choices"]) == (True, [first.pk])


def test_an_island_vote_in_a_closed_poll_is_a_403_with_its_state(client, make_poll, now):
    poll = make_poll(closes_at=now - datetime.timedelta(seconds=1))
    response = vote_json(client, poll, poll.choices.first())
    assert response.status_code == HTTPStatus.FORBIDDEN
    data = response.json()
    assert data.pop("error") == "This poll has closed, so it no longer takes votes."
    assert set(data) == STATE_KEYS
    assert (data["is_open"], data["voted"]) == (False, False)
    assert not Vote.objects.exists()


def test_an_island_vote_in_a_poll_not_open_yet_shows_nothing_of_it(client, make_poll, now):
    poll = make_poll(
        question="Secret question?", opens_at=now + datetime.timedelta(hours=1), choices=["Hidden"]
    )
    response = vote_json(client, poll, poll.choices.first())
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {"error": "This poll is not open for voting yet."}
    assert not Vote.objects.exists()


def test_island_votes_over_the_limit_are_a_429_with_retry_after(poll, settings):
    settings.POLL_IP_VOTE_LIMIT = 1
    settings.TRUSTED_PROXY_COUNT = 0
    counted = vote_json(Client(REMOTE_ADDR="203.0.113.7"), poll, poll.choices.first())
    assert counted.status_code == HTTPStatus.OK
    response = vote_json(Client(REMOTE_ADDR="203.0.113.7"), poll, poll.choices.first())
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json() == {
        "error": "Too many votes have come from your connection. Please try again later."
    }
    assert 0 < int(response["Retry-After"]) <= 3600
    assert counts(poll) == [1, 0, 0]


def test_an_island_vote_by_a_signed_in_user_is_theirs(client, poll, admin_user):
    client.force_login(admin_user)
    response = vote_json(client, poll, poll.choices.last())
    assert response.status_code == HTTPStatus.OK
    assert (response.json()["voted"], response.json()["own_choices"]) == (
        True,
        [poll.choices.last().pk],
    )
    assert COOKIE_NAME not in response.cookies


def test_the_island_vote_query_count_is_pinned(poll, django_assert_max_num_queries):
    # The vote as without JavaScript (13, see test_voting), then the counts read again (1).
    with django_assert_max_num_queries(14):
        response = vote_json(Client(), poll, poll.choices.first())
    assert response.status_code == HTTPStatus.OK


# The voted page


def test_the_voted_page_without_a_ballot_sends_the_visitor_to_the_poll(client, poll):
    Client().post(vote_url(poll), {"choice": poll.choices.first().pk})  # someone else voted
    forged = Client()
    forged.cookies[COOKIE_NAME] = "forged-token"
    holding_a_token = Client()
    holding_a_token.get(state_url(poll))
    for visitor in (client, forged, holding_a_token):
        response = visitor.get(voted_url(poll), {"next": "/articles/a/"})
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == poll.get_absolute_url()


def test_the_voted_page_shows_the_voters_answer_marked_in_the_results(client, poll):
    first, second, _ = poll.choices.all()
    Client().post(vote_url(poll), {"choice": first.pk})
    client.post(vote_url(poll), {"choice": second.pk})
    response = client.get(voted_url(poll), {"next": "/topics/sleep/"})
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert "Thank you for voting." in text
    assert f"Your answer: <strong>{second.text}</strong>" in text
    assert '<li class="poll-result-own">' in text
    assert f'{second.text} <strong class="poll-own-answer">(your answer)</strong>' in text
    assert text.count("(your answer)") == 1
    assert "50% (1 vote)" in text
    assert "Total votes: 2" in text
    assert (
        f'<a href="/topics/sleep/#poll-{poll.slug}">Back to the page you were reading</a>' in text
    )
    assert '<form class="poll-form"' not in text
    assert_private(response)


def test_the_voted_page_where_results_wait_for_the_close(client, make_poll):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_CLOSE)
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    text = client.get(voted_url(poll)).text
    assert f"Your answer: <strong>{poll.choices.first().text}</strong>" in text
    assert "The results are shown when the poll closes" in text
    assert "% (" not in text
    assert "Total votes: 1" in text


def test_the_voted_page_only_reads_and_is_404_for_an_unknown_poll(client, poll):
    assert client.post(voted_url(poll)).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    unknown = client.get(reverse("polls:voted", args=["no-such-poll"]))
    assert unknown.status_code == HTTPStatus.NOT_FOUND


def test_the_voted_page_query_count_is_pinned(client, poll, django_assert_max_num_queries):
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    # The poll, its choices, the ballot, the answer's text.
    with django_assert_max_num_queries(4):
        response = client.get(voted_url(poll))
    assert response.status_code == HTTPStatus.OK
