""" "Check all that apply" polls: a ballot with several answers, voters and answers both shown.

One ballot per voter still holds; each answer's count is its Selection rows; the count of
voters is the count of ballots, and each answer's share is of the voters.
"""

from http import HTTPStatus

import pytest
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse

from polls.models import Choice, Poll, Selection, Vote
from polls.services import (
    AlreadyVoted,
    InvalidChoice,
    TooManyChoices,
    delete_votes,
    record_vote,
    recount,
)
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db

SYMPTOMS = ("Sleep", "Mood", "Appetite", "None of these")


@pytest.fixture
def several(make_poll):
    return make_poll(
        slug="side-effects",
        question="Which side effects have you noticed?",
        choices=SYMPTOMS,
        max_choices=3,
    )


def answer(poll, text):
    return poll.choices.get(text=text).pk


def vote(client, poll, *texts, **headers):
    data = {"choice": [answer(poll, text) for text in texts]}
    return client.post(reverse("polls:vote", args=[poll.slug]), data, headers=headers)


def counts(poll):
    return dict(Choice.objects.filter(poll=poll).with_votes().values_list("text", "votes"))


def test_the_form_offers_check_boxes_and_says_how_many_may_be_chosen(client, several):
    page = client.get(several.get_absolute_url()).text
    assert page.count('type="checkbox" name="choice"') == 4
    assert 'type="radio"' not in page
    assert "Choose all that apply, up to 3." in page
    assert f'aria-describedby="poll-{several.slug}-hint"' in page


def test_a_single_answer_poll_keeps_its_radio_buttons(client, poll):
    page = client.get(poll.get_absolute_url()).text
    assert page.count('type="radio" name="choice"') == 3
    assert 'type="checkbox"' not in page


def test_one_ballot_with_two_answers_counts_one_voter_and_two_answers(client, several):
    response = vote(client, several, "Sleep", "Mood")
    assert response.status_code == HTTPStatus.SEE_OTHER
    ballot = Vote.objects.get()
    assert sorted(ballot.choices.values_list("text", flat=True)) == ["Mood", "Sleep"]
    assert counts(several) == {"Sleep": 1, "Mood": 1, "Appetite": 0, "None of these": 0}
    poll = Poll.objects.with_choices().get(pk=several.pk)
    assert (poll.total_votes, poll.answer_total) == (1, 2)


def test_shares_are_of_voters_and_may_add_up_to_more_than_100(client, several):
    vote(Client(), several, "Sleep", "Mood")
    vote(Client(), several, "Sleep")
    vote(Client(), several, "Appetite")
    poll = Poll.objects.with_choices().get(pk=several.pk)
    assert [(c.text, share) for c, share in poll.results()] == [
        ("Sleep", 67),  # 2 of 3 voters
        ("Mood", 33),
        ("Appetite", 33),
        ("None of these", 0),
    ]
    page = client.get(reverse("polls:results", args=[several.slug])).text
    assert "Voters: 3 · Answers chosen: 4" in page
    assert "each percentage is the share of voters who chose that answer" in page
    assert "67% (2 votes)" in page


def test_more_answers_than_allowed_are_refused_and_nothing_is_counted(client, several):
    response = vote(client, several, "Sleep", "Mood", "Appetite", "None of these")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose at most 3 answers." in response.text
    assert not Vote.objects.exists()
    assert set(counts(several).values()) == {0}


def test_no_answer_is_refused_with_the_message(client, several):
    response = client.post(reverse("polls:vote", args=[several.slug]), {})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose an answer before voting." in response.text
    assert not Vote.objects.exists()


def test_the_same_answer_sent_twice_is_counted_once(client, several):
    sleep = answer(several, "Sleep")
    response = client.post(reverse("polls:vote", args=[several.slug]), {"choice": [sleep, sleep]})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert counts(several)["Sleep"] == 1
    assert Selection.objects.count() == 1


def test_an_answer_of_another_poll_among_the_answers_writes_nothing(several, make_poll):
    other = make_poll()
    with pytest.raises(InvalidChoice):
        record_vote(
            poll=several,
            choice_ids=[answer(several, "Sleep"), other.choices.first().pk],
            voter_key="k",
        )
    assert not Vote.objects.exists()
    assert not Selection.objects.exists()
    assert set(counts(several).values()) == {0}


def test_the_service_refuses_more_answers_than_the_poll_allows(several):
    with pytest.raises(TooManyChoices, match="at most 3"):
        record_vote(poll=several, choice_ids=[c.pk for c in several.choices.all()], voter_key="k")
    assert not Vote.objects.exists()


def test_a_single_answer_poll_refuses_two_answers(client, poll):
    first, second, _ = poll.choices.all()
    response = client.post(
        reverse("polls:vote", args=[poll.slug]), {"choice": [first.pk, second.pk]}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose only one answer." in response.text
    with pytest.raises(TooManyChoices):
        record_vote(poll=poll, choice_ids=[first.pk, second.pk], voter_key="k")
    assert not Vote.objects.exists()


def test_a_voter_gets_one_ballot_however_many_answers(several):
    record_vote(poll=several, choice_ids=[answer(several, "Sleep")], voter_key="k")
    with pytest.raises(AlreadyVoted):
        record_vote(poll=several, choice_ids=[answer(several, "Mood")], voter_key="k")
    assert Vote.objects.count() == 1
    assert counts(several)["Mood"] == 0


def test_the_database_refuses_the_same_answer_twice_on_one_ballot(several):
    ballot = record_vote(poll=several, choice_ids=[answer(several, "Sleep")], voter_key="k")
    with pytest.raises(IntegrityError):
        Selection.objects.create(vote=ballot, choice_id=answer(several, "Sleep"))


def test_the_voter_sees_all_their_answers_marked(client, several):
    response = vote(client, several, "Sleep", "Appetite")
    page = client.get(response["Location"]).text
    assert "Your answers: <strong>Sleep</strong>, <strong>Appetite</strong>" in page
    assert page.count("(your answer)") == 2
    state = client.get(reverse("polls:state", args=[several.slug])).json()
    assert state["own_choices"] == [answer(several, "Sleep"), answer(several, "Appetite")]
    assert (state["total_votes"], state["total_answers"], state["max_choices"]) == (1, 2, 3)


def test_the_island_vote_answers_with_both_totals(several):
    response = vote(Client(), several, "Sleep", "Mood", Accept="application/json")
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert (data["total_votes"], data["total_answers"]) == (1, 2)
    assert [c["percent"] for c in data["choices"]] == [100, 100, 0, 0]


def test_where_results_wait_the_answer_count_waits_too(several):
    several.results_visibility = Poll.ResultsVisibility.AFTER_CLOSE
    several.save()
    vote(Client(), several, "Sleep", "Mood")
    data = Client().get(reverse("polls:results_json", args=[several.slug])).json()
    assert (data["total_votes"], data["total_answers"]) == (1, None)
    page = Client().get(several.get_absolute_url()).text
    assert "Voters: 1" in page
    assert "Answers chosen" not in page


def test_deleting_a_ballot_takes_each_of_its_answers_off(several):
    record_vote(poll=several, choice_ids=[answer(several, "Sleep")], voter_key="a")
    ballot = record_vote(
        poll=several, choice_ids=[answer(several, "Sleep"), answer(several, "Mood")], voter_key="b"
    )
    assert delete_votes(Vote.objects.filter(pk=ballot.pk)) == 1
    assert counts(several) == {"Sleep": 1, "Mood": 0, "Appetite": 0, "None of these": 0}
    assert not Selection.objects.filter(vote_id=ballot.pk).exists()
    assert recount([several], repair=False) == []


def test_recount_compares_counts_with_answer_rows(several):
    record_vote(
        poll=several, choice_ids=[answer(several, "Sleep"), answer(several, "Mood")], voter_key="a"
    )
    Choice.objects.filter(text="Mood").update(folded_votes=4)  # + the ballot's slot: 5
    drifted = recount([several])
    assert [(c.text, counted, rows) for c, counted, rows in drifted] == [("Mood", 5, 1)]
    assert counts(several)["Mood"] == 1


def test_the_archive_shows_voters_of_a_several_answer_poll(client, several):
    vote(Client(), several, "Sleep", "Mood")
    vote(Client(), several, "Mood")
    page = client.get(reverse("polls:index")).text
    assert "Voters: 2" in page


def test_staff_choose_how_many_answers_a_poll_takes(admin_client, poll):
    url = reverse("admin:polls_poll_change", args=[poll.pk])
    data = form_data(admin_client.get(url), "poll_form")
    data["max_choices"] = "2"
    assert admin_client.post(url, data).status_code == HTTPStatus.FOUND
    assert Poll.objects.get(pk=poll.pk).max_choices == 2


def test_once_readers_voted_the_number_of_answers_cannot_change(admin_client, poll):
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="k")
    url = reverse("admin:polls_poll_change", args=[poll.pk])
    data = form_data(admin_client.get(url), "poll_form")
    data["max_choices"] = "3"
    response = admin_client.post(url, data)
    assert response.status_code == HTTPStatus.OK
    assert "can no longer change" in response.text
    assert Poll.objects.get(pk=poll.pk).max_choices == 1


def test_the_database_refuses_a_poll_that_takes_no_answer(poll):
    with pytest.raises(IntegrityError):
        Poll.objects.filter(pk=poll.pk).update(max_choices=0)


def test_staff_enter_a_paper_ballot_with_several_answers(admin_client, several):
    chosen = [answer(several, "Sleep"), answer(several, "Appetite")]
    response = admin_client.post(
        reverse("admin:polls_vote_add"), {"poll": several.pk, "answers": chosen}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert counts(several) == {"Sleep": 1, "Mood": 0, "Appetite": 1, "None of these": 0}
    listing = admin_client.get(reverse("admin:polls_vote_changelist")).text
    assert "Sleep, Appetite" in listing


def test_staff_cannot_enter_more_answers_than_the_poll_takes(admin_client, poll):
    first, second, _ = poll.choices.all()
    response = admin_client.post(
        reverse("admin:polls_vote_add"), {"poll": poll.pk, "answers": [first.pk, second.pk]}
    )
    assert response.status_code == HTTPStatus.OK
    assert "Please choose only one answer." in response.text
    assert not Vote.objects.exists()


def test_the_admin_shows_voters_and_answers_and_exports_both(admin_client, several):
    vote(Client(), several, "Sleep", "Mood")
    page = admin_client.get(reverse("admin:polls_poll_change", args=[several.pk])).text
    assert "Voters: 1 · Answers chosen: 2" in page
    csv = admin_client.get(reverse("admin:polls_poll_results_csv", args=[several.pk]))
    lines = csv.content.decode().splitlines()
    assert '"Voters","1",""' in lines
    assert '"Answers chosen","2",""' in lines
