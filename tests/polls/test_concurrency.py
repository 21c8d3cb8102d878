"""Votes arriving at the same moment, on a real PostgreSQL, each thread on its own connection."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from polls.models import Choice, ChoiceSlot, Selection, Vote
from polls.services import AlreadyVoted, delete_votes, record_vote, recount

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def all_at_once(n, work):
    """Run work(i) in n threads released together; each closes its own connection."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=30)
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def fresh_poll(make_poll):
    return make_poll()


def test_sixty_simultaneous_votes_for_one_choice_give_exactly_sixty(fresh_poll):
    choice = fresh_poll.choices.first()
    all_at_once(
        60, lambda i: record_vote(poll=fresh_poll, choice_ids=[choice.pk], voter_key=f"v{i}")
    )
    assert Choice.objects.with_votes().get(pk=choice.pk).votes == 60
    assert Vote.objects.filter(choices=choice).count() == 60


def test_simultaneous_votes_for_one_answer_spread_over_its_counter_slots(fresh_poll):
    choice = fresh_poll.choices.first()
    all_at_once(
        40, lambda i: record_vote(poll=fresh_poll, choice_ids=[choice.pk], voter_key=f"v{i}")
    )
    slots = ChoiceSlot.objects.filter(choice=choice)
    assert slots.count() > 1  # all 40 in one of 16 slots: a chance of 1 in 16**39
    assert sum(slots.values_list("votes", flat=True)) == 40


def test_deletes_and_a_recount_amid_a_storm_of_ballots_keep_every_count_exact(make_poll):
    """Staff delete ballots and a recount repairs a drift while 60 ballots, some with two
    answers, arrive at once: both fold slots that ballots are adding to. Nothing deadlocks,
    nothing is lost, the drift is repaired once, and every count equals its rows after."""
    poll = make_poll(choices=("Sleep", "Mood", "Weight"), max_choices=2)
    sleep, mood, weight = (c.pk for c in poll.choices.all())
    for i in range(30):
        record_vote(poll=poll, choice_ids=[sleep, mood][: 1 + i % 2], voter_key=f"old{i}")
    Choice.objects.filter(pk=mood).update(folded_votes=F("folded_votes") + 3)  # a drift of 3
    doomed = list(Vote.objects.filter(voter_key__in=[f"old{i}" for i in range(0, 30, 3)]))

    def work(i):
        if i == 0:
            return delete_votes(Vote.objects.filter(pk__in=[b.pk for b in doomed[:5]]))
        if i == 1:
            return recount([poll])
        if i == 2:
            return delete_votes(Vote.objects.filter(pk__in=[b.pk for b in doomed[5:]]))
        answers = [[sleep], [sleep, mood], [mood, weight], [weight]][i % 4]
        return record_vote(poll=poll, choice_ids=answers, voter_key=f"new{i}")

    outcomes = all_at_once(63, work)

    assert outcomes[0] == outcomes[2] == 5
    ((drifted, counted, rows),) = outcomes[1]  # the one drift, found once
    assert (drifted.pk, counted - rows) == (mood, 3)
    assert Vote.objects.filter(poll=poll).count() == 30 - 10 + 60
    for choice in Choice.objects.filter(poll=poll).with_votes():
        assert choice.votes == Selection.objects.filter(choice=choice).count(), choice
    assert recount([poll], repair=False) == []


def test_twenty_simultaneous_votes_with_one_voter_key_count_once(fresh_poll):
    choice = fresh_poll.choices.first()

    def vote(i):
        try:
            record_vote(poll=fresh_poll, choice_ids=[choice.pk], voter_key="same-voter")
        except AlreadyVoted:
            return "refused"
        return "counted"

    outcomes = all_at_once(20, vote)
    assert outcomes.count("counted") == 1
    assert outcomes.count("refused") == 19
    assert Choice.objects.with_votes().get(pk=choice.pk).votes == 1


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_twenty_simultaneous_clicks_of_a_visitor_holding_a_token_count_once(fresh_poll, accept):
    url = reverse("polls:vote", args=[fresh_poll.slug])
    choice = fresh_poll.choices.first()
    visitor = Client()
    # The poll island asks for the visitor's state on their first touch of the form, which
    # gives a first-time visitor their token before any click.
    visitor.get(reverse("polls:state", args=[fresh_poll.slug]))
    cookies = visitor.cookies

    def click(i):
        browser = Client()
        browser.cookies = cookies
        return browser.post(url, {"choice": choice.pk}, headers={"Accept": accept}).status_code

    statuses = all_at_once(20, click)
    counted = HTTPStatus.OK if accept == "application/json" else HTTPStatus.SEE_OTHER
    assert statuses.count(counted) == 1
    assert statuses.count(HTTPStatus.CONFLICT) == 19
    assert Choice.objects.with_votes().get(pk=choice.pk).votes == 1


def test_simultaneous_votes_from_distinct_visitors_through_the_form_are_all_counted(fresh_poll):
    url = reverse("polls:vote", args=[fresh_poll.slug])
    choices = list(fresh_poll.choices.all())
    statuses = all_at_once(
        50, lambda i: Client().post(url, {"choice": choices[i % 3].pk}).status_code
    )
    assert statuses == [HTTPStatus.SEE_OTHER] * 50
    counts = Choice.objects.filter(poll=fresh_poll).with_votes().values_list("votes", flat=True)
    assert list(counts) == [17, 17, 16]
    assert Vote.objects.filter(poll=fresh_poll).count() == 50


def test_counts_equal_ballots_after_a_mixed_storm(fresh_poll):
    choices = list(fresh_poll.choices.all())

    def vote(i):
        with contextlib.suppress(AlreadyVoted):
            record_vote(poll=fresh_poll, choice_ids=[choices[i % 3].pk], voter_key=f"k{i % 25}")

    all_at_once(50, vote)
    for choice in Choice.objects.filter(poll=fresh_poll).with_votes():
        assert choice.votes == Vote.objects.filter(choices=choice).count()
    assert Vote.objects.filter(poll=fresh_poll).count() == 25


def test_a_burst_from_one_address_never_passes_the_vote_limit(fresh_poll, settings):
    settings.POLL_IP_VOTE_LIMIT = 10
    settings.TRUSTED_PROXY_COUNT = 0
    url = reverse("polls:vote", args=[fresh_poll.slug])
    choice = fresh_poll.choices.first().pk

    def vote(i):
        return Client(REMOTE_ADDR="203.0.113.9").post(url, {"choice": choice}).status_code

    statuses = all_at_once(40, vote)

    assert statuses.count(HTTPStatus.SEE_OTHER) == 10
    assert statuses.count(HTTPStatus.TOO_MANY_REQUESTS) == 30
    assert Choice.objects.with_votes().get(pk=choice).votes == 10


def test_a_storm_of_check_all_that_apply_ballots_through_the_form_stays_exact(make_poll, settings):
    """40 voters at once choose one to three of four answers, each clicking twice. Half hold a
    token from the island first, so their two clicks are one voter; the others have none, so
    each of their two simultaneous clicks is a new voter (the case docs/polls.md documents).
    Every accepted ballot and every one of its answers is counted exactly once."""
    settings.POLL_IP_VOTE_LIMIT = 1000  # every client here is 127.0.0.1
    poll = make_poll(choices=("Sleep", "Mood", "Weight", "Nothing"), max_choices=3)
    url = reverse("polls:vote", args=[poll.slug])
    answers = [c.pk for c in poll.choices.all()]
    picks = [answers[i % 4 : i % 4 + 1 + i % 3] for i in range(40)]  # 1 to 3 answers each
    voters = []
    for i in range(40):
        voter = Client()
        if i % 2:  # the island gave this browser its token before the clicks
            voter.get(reverse("polls:state", args=[poll.slug]))
        voters.append(voter)

    def click(i):
        browser = Client()
        browser.cookies = voters[i // 2].cookies
        return browser.post(url, {"choice": picks[i // 2]}).status_code

    statuses = all_at_once(80, click)  # PostgreSQL's 100 connections bound this

    assert statuses.count(HTTPStatus.SEE_OTHER) == 20 * 2 + 20
    assert statuses.count(HTTPStatus.CONFLICT) == 20
    ballots = Vote.objects.filter(poll=poll)
    assert ballots.count() == 60
    # Both clicks of a pair carry the same answers, so the answers counted are known exactly.
    accepted = [i // 2 for i, status in enumerate(statuses) if status == HTTPStatus.SEE_OTHER]
    chosen = [pk for voter in accepted for pk in picks[voter]]
    for choice in Choice.objects.filter(poll=poll).with_votes():
        assert choice.votes == chosen.count(choice.pk)
        assert choice.votes == Selection.objects.filter(choice=choice).count()
    assert all(1 <= ballot.selections.count() <= 3 for ballot in ballots)
    assert poll.ballots_per_day() == [(timezone.localdate(), 60)]
    assert recount([poll], repair=False) == []
