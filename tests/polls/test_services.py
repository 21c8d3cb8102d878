import datetime

import pytest
from django.db.models import Sum

from polls.models import Choice, Vote
from polls.services import (
    AlreadyVoted,
    InvalidChoice,
    PollClosed,
    PollNotOpen,
    delete_votes,
    record_vote,
    recount,
)

pytestmark = pytest.mark.django_db


def counts(poll):
    return list(Choice.objects.filter(poll=poll).values_list("votes", flat=True))


def assert_counts_equal_ballots(poll):
    for choice in Choice.objects.filter(poll=poll):
        assert choice.votes == Vote.objects.filter(choices=choice).count(), choice


def test_a_vote_adds_one_ballot_and_one_to_its_count(poll):
    choice = poll.choices.all()[1]
    vote = record_vote(poll=poll, choice_ids=[choice.pk], voter_key="a" * 64)
    assert (vote.poll, list(vote.choices.all()), vote.voter_key) == (poll, [choice], "a" * 64)
    assert counts(poll) == [0, 1, 0]
    assert_counts_equal_ballots(poll)


def test_a_second_ballot_from_the_same_voter_is_refused_and_not_counted(poll):
    first, second = poll.choices.all()[:2]
    record_vote(poll=poll, choice_ids=[first.pk], voter_key="k")
    with pytest.raises(AlreadyVoted):
        record_vote(poll=poll, choice_ids=[second.pk], voter_key="k")
    assert counts(poll) == [1, 0, 0]
    assert Vote.objects.count() == 1


def test_the_same_voter_may_vote_in_another_poll(make_poll):
    one, two = make_poll(), make_poll()
    record_vote(poll=one, choice_ids=[one.choices.first().pk], voter_key="k")
    record_vote(poll=two, choice_ids=[two.choices.first().pk], voter_key="k")
    assert Vote.objects.count() == 2


def test_a_choice_from_another_poll_is_refused_with_nothing_written(make_poll):
    poll, other = make_poll(), make_poll()
    with pytest.raises(InvalidChoice):
        record_vote(poll=poll, choice_ids=[other.choices.first().pk], voter_key="k")
    assert not Vote.objects.exists()
    assert Choice.objects.aggregate(total=Sum("votes"))["total"] == 0


def test_a_choice_that_does_not_exist_is_refused_with_nothing_written(poll):
    with pytest.raises(InvalidChoice):
        record_vote(poll=poll, choice_ids=[987654], voter_key="k")
    assert not Vote.objects.exists()


def test_a_poll_not_open_yet_takes_no_vote(make_poll, now):
    poll = make_poll(opens_at=now + datetime.timedelta(seconds=1))
    with pytest.raises(PollNotOpen):
        record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="k", at=now)
    assert not Vote.objects.exists()


def test_a_closed_poll_takes_no_vote(make_poll, now):
    poll = make_poll(closes_at=now)
    with pytest.raises(PollClosed):
        record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="k", at=now)
    assert not Vote.objects.exists()


def test_deleting_ballots_takes_them_off_the_counts(poll):
    first, second, _ = poll.choices.all()
    for n in range(3):
        record_vote(poll=poll, choice_ids=[first.pk], voter_key=f"a{n}")
    record_vote(poll=poll, choice_ids=[second.pk], voter_key="b")
    deleted = delete_votes(Vote.objects.filter(voter_key__in=["a0", "a1", "b"]))
    assert deleted == 3
    assert counts(poll) == [1, 0, 0]
    assert_counts_equal_ballots(poll)


def test_recount_reports_and_repairs_drift(poll):
    first, second, _ = poll.choices.all()
    record_vote(poll=poll, choice_ids=[first.pk], voter_key="a")
    Choice.objects.filter(pk=first.pk).update(votes=7)
    Choice.objects.filter(pk=second.pk).update(votes=2)
    drifted = recount()
    assert [(c.text, counted, rows) for c, counted, rows in drifted] == [
        (first.text, 7, 1),
        (second.text, 2, 0),
    ]
    assert counts(poll) == [1, 0, 0]


def test_recount_without_repair_only_reports(poll):
    first = poll.choices.first()
    Choice.objects.filter(pk=first.pk).update(votes=5)
    assert len(recount(repair=False)) == 1
    assert counts(poll) == [5, 0, 0]


def test_recount_finds_nothing_when_counts_match(poll):
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a")
    assert recount() == []
