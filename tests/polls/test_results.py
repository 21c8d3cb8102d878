import datetime
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from polls.models import Poll
from polls.services import record_vote

pytestmark = pytest.mark.django_db


def cast(poll, *choice_positions):
    choices = list(poll.choices.all())
    for n, position in enumerate(choice_positions):
        record_vote(poll=poll, choice_ids=[choices[position].pk], voter_key=f"voter-{n}")


def results_json(client, poll):
    response = client.get(reverse("polls:results_json", args=[poll.slug]))
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_results_page_shows_counts_percentages_bars_and_total(client, poll):
    cast(poll, 0, 0, 1)
    response = client.get(reverse("polls:results", args=[poll.slug]))
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert "67% (2 votes)" in text
    assert "33% (1 vote)" in text
    assert "0% (0 votes)" in text
    assert '<progress class="poll-bar" max="100" value="67" aria-hidden="true">' in text
    assert "Total votes: 3" in text


def test_results_json_has_the_documented_shape(client, poll):
    cast(poll, 0, 1, 1)
    first, second, third = poll.choices.all()
    assert results_json(client, poll) == {
        "question": poll.question,
        "total_votes": 3,
        "total_answers": 3,
        "max_choices": 1,
        "is_open": True,
        "results_visible": True,
        "results_published": True,
        "choices": [
            {"id": first.pk, "text": first.text, "votes": 1, "percent": 33},
            {"id": second.pk, "text": second.text, "votes": 2, "percent": 67},
            {"id": third.pk, "text": third.text, "votes": 0, "percent": 0},
        ],
    }


def test_results_json_percentages_add_up_to_100(client, make_poll):
    poll = make_poll(choices=["a", "b", "c", "d", "e", "f", "g"])
    cast(poll, 0, 1, 2, 3, 4, 5, 6)
    data = results_json(client, poll)
    assert sum(choice["percent"] for choice in data["choices"]) == 100


def test_hidden_until_voted_withholds_counts_but_keeps_the_total(client, make_poll):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_VOTE)
    cast(poll, 0, 1)
    data = results_json(client, poll)
    assert data["total_votes"] == 2
    assert data["results_visible"] is False
    assert all(c["votes"] is None and c["percent"] is None for c in data["choices"])
    page = client.get(reverse("polls:results", args=[poll.slug]))
    assert "The results are shown once you have voted." in page.text
    assert "Total votes: 2" in page.text
    assert "% (" not in page.text


def test_hidden_until_voted_shows_counts_to_a_visitor_who_voted_but_not_on_shared_pages(
    client, make_poll
):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_VOTE)
    first = poll.choices.first()
    voted = client.post(reverse("polls:vote", args=[poll.slug]), {"choice": first.pk})
    page = client.get(voted["Location"])
    assert "100% (1 vote)" in page.text
    assert "(your answer)" in page.text
    state = client.get(reverse("polls:state", args=[poll.slug])).json()
    assert (state["voted"], state["results_visible"]) == (True, True)
    assert state["choices"][0]["votes"] == 1
    # The shared results are the same for the voter as for everyone: still hidden.
    for reader in (client, Client()):
        data = results_json(reader, poll)
        assert (data["total_votes"], data["results_visible"]) == (1, False)
        assert data["choices"][0]["votes"] is None
    assert (
        Client().get(reverse("polls:state", args=[poll.slug])).json()["choices"][0]["votes"] is None
    )


def test_hidden_until_closed_stays_hidden_after_voting(client, make_poll):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_CLOSE)
    first = poll.choices.first()
    voted = client.post(reverse("polls:vote", args=[poll.slug]), {"choice": first.pk})
    data = results_json(client, poll)
    assert (data["total_votes"], data["results_visible"]) == (1, False)
    assert data["choices"][0]["votes"] is None
    state = client.get(reverse("polls:state", args=[poll.slug])).json()
    assert (state["voted"], state["own_choices"], state["results_visible"]) == (
        True,
        [first.pk],
        False,
    )
    assert state["choices"][0]["votes"] is None
    page = client.get(voted["Location"])
    assert "The results are shown when the poll closes" in page.text
    assert f"Your answer: <strong>{first.text}</strong>" in page.text
    assert "% (" not in page.text
    box = client.get(poll.get_absolute_url())
    assert "% (" not in box.text


def test_hidden_until_closed_is_shown_once_closed(client, make_poll, now):
    poll = make_poll(results_visibility=Poll.ResultsVisibility.AFTER_CLOSE)
    cast(poll, 2)
    Poll.objects.filter(pk=poll.pk).update(closes_at=now - datetime.timedelta(seconds=1))
    data = results_json(client, poll)
    assert (data["is_open"], data["results_visible"]) == (False, True)
    assert data["choices"][2]["votes"] == 1


def test_results_json_is_shared_by_every_reader(client, poll):
    cast(poll, 0)
    response = client.get(reverse("polls:results_json", args=[poll.slug]))
    assert "public" in response["Cache-Control"]
    assert "private" not in response["Cache-Control"]
    assert not response.cookies


def test_the_results_page_of_an_open_poll_links_to_the_vote(client, poll):
    response = client.get(reverse("polls:results", args=[poll.slug]))
    assert f'<a href="{poll.get_absolute_url()}">Vote in this poll</a>' in response.text
    assert "You have voted" not in response.text


def test_results_json_of_an_unknown_poll_is_a_json_404(client):
    response = client.get(reverse("polls:results_json", args=["nope"]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "error" in response.json()


def test_unknown_poll_pages_are_404(client):
    for name in ("polls:detail", "polls:results"):
        assert client.get(reverse(name, args=["nope"])).status_code == HTTPStatus.NOT_FOUND


def test_archive_lists_open_and_closed_polls_but_not_future_ones(client, make_poll, now):
    make_poll(question="Open question?")
    make_poll(
        question="Closed question?",
        opens_at=now - datetime.timedelta(days=5),
        closes_at=now - datetime.timedelta(days=1),
    )
    make_poll(question="Future question?", opens_at=now + datetime.timedelta(days=1))
    response = client.get(reverse("polls:index"))
    assert response.status_code == HTTPStatus.OK
    assert "Open question?" in response.text
    assert "Closed question?" in response.text
    assert "Closed on" in response.text
    assert "Future question?" not in response.text


def test_archive_query_count_is_pinned(client, make_poll, django_assert_max_num_queries):
    for _ in range(5):
        make_poll()
    # the count, the page of polls with their totals, all their choices, the header's topics:
    # not one per poll
    with django_assert_max_num_queries(4):
        client.get(reverse("polls:index"))


def test_results_never_shown_stay_with_staff_even_after_voting_and_closing(client, make_poll, now):
    poll = make_poll(results_visibility="never", closes_at=now + datetime.timedelta(days=1))
    voter = Client()
    voter.post(reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk})

    state = voter.get(reverse("polls:state", args=[poll.slug])).json()
    assert state["voted"] is True
    assert state["results_visible"] is False
    assert state["results_published"] is False
    assert {choice["votes"] for choice in state["choices"]} == {None}
    page = client.get(reverse("polls:results", args=[poll.slug]))
    assert "The results of this poll are not published." in page.text
    assert "1 vote" not in page.text
    assert not poll.results_visible_to(has_voted=True, at=now + datetime.timedelta(days=2))


def test_results_carry_a_caveat_that_this_is_not_a_scientific_survey(client, poll):
    page = client.get(reverse("polls:results", args=[poll.slug]))
    assert "An online poll of PsyWeb readers, not a scientific survey." in page.text


def test_the_archive_shows_the_final_results_of_closed_polls(client, make_poll, now):
    closed = make_poll(question="Closed?", closes_at=now - datetime.timedelta(hours=1))
    Poll.objects.filter(pk=closed.pk).update(opens_at=now - datetime.timedelta(days=2))
    closed.choices.filter(order=1).update(folded_votes=3)
    make_poll(question="Open?")
    hidden = make_poll(
        question="Staff only?",
        results_visibility="never",
        closes_at=now - datetime.timedelta(hours=1),
    )
    hidden.choices.filter(order=1).update(folded_votes=5)

    page = client.get(reverse("polls:index")).text

    assert page.count('class="poll-results"') == 1  # the closed poll's, and only it
    assert "100% (3 votes)" in page
    assert "(5 votes)" not in page
