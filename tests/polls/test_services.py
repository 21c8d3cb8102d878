import datetime

import pytest
from django.db import IntegrityError

from polls.models import Choice, ChoiceSlot, Poll, PollDaySlot, Vote
from polls.services import (
    COUNT_SLOTS,
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
    return list(Choice.objects.filter(poll=poll).with_votes().values_list("votes", flat=True))


def assert_counts_equal_ballots(poll):
    for choice in Choice.objects.filter(poll=poll).with_votes():
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
    assert sum(Choice.objects.with_votes().values_list("votes", flat=True)) == 0


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
    record_vote(poll=poll, choice_ids=[first.pk], voter_key="a")  # in one of first's slots
    Choice.objects.filter(pk=first.pk).update(folded_votes=6)  # so first's count says 7
    Choice.objects.filter(pk=second.pk).update(folded_votes=2)
    drifted = recount()
    assert [(c.text, counted, rows) for c, counted, rows in drifted] == [
        (first.text, 7, 1),
        (second.text, 2, 0),
    ]
    assert counts(poll) == [1, 0, 0]


def test_recount_without_repair_only_reports(poll):
    first = poll.choices.first()
    Choice.objects.filter(pk=first.pk).update(folded_votes=5)
    assert len(recount(repair=False)) == 1
    assert counts(poll) == [5, 0, 0]


def test_recount_finds_nothing_when_counts_match(poll):
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a")
    assert recount() == []


# Counter slots: each count is its answer's folded votes plus its slots' votes.


def answer_slots(answer):
    return dict(ChoiceSlot.objects.filter(choice=answer).values_list("slot", "votes"))


def day_slots(poll):
    return dict(PollDaySlot.objects.filter(poll=poll).values_list("slot", "ballots"))


def test_a_ballot_adds_one_to_one_slot_of_each_answer_and_of_the_day(make_poll):
    poll = make_poll(max_choices=2)
    first, second, third = poll.choices.all()
    record_vote(poll=poll, choice_ids=[first.pk, third.pk], voter_key="a")
    for answer, ballots in [(first, 1), (second, 0), (third, 1)]:
        slots = answer_slots(answer)
        assert sum(slots.values()) == ballots
        assert set(slots) <= set(range(COUNT_SLOTS))
    assert sum(day_slots(poll).values()) == 1
    assert Choice.objects.filter(poll=poll, folded_votes__gt=0).count() == 0


def test_the_days_slot_is_drawn_apart_from_the_answers_slot(poll):
    """Were they one slot, a quiet day's slot row would point at its ballots' answers."""
    answer = poll.choices.first()
    same = 0
    for n in range(48):
        answers_before, days_before = answer_slots(answer), day_slots(poll)
        record_vote(poll=poll, choice_ids=[answer.pk], voter_key=f"k{n}")
        (answers_slot,) = (
            slot for slot, v in answer_slots(answer).items() if v != answers_before.get(slot, 0)
        )
        (days_slot,) = (
            slot for slot, v in day_slots(poll).items() if v != days_before.get(slot, 0)
        )
        same += answers_slot == days_slot
    assert same < 48 // 2  # about 3 in 48 by chance; all 48 if they were one slot


def test_counts_add_the_folded_votes_and_the_slots(poll):
    """Votes counted before the slots (or by the code before them, during a rolling deploy)
    are in the answer's row; the others are in its slots."""
    answer = poll.choices.first()
    Choice.objects.filter(pk=answer.pk).update(folded_votes=5)
    ChoiceSlot.objects.create(choice=answer, slot=2, votes=3)
    ChoiceSlot.objects.create(choice=answer, slot=9, votes=4)
    assert counts(poll) == [12, 0, 0]
    assert Poll.objects.get(pk=poll.pk).answer_total == 12  # one query
    assert Poll.objects.with_choices().get(pk=poll.pk).answer_total == 12  # prefetched


def test_deleting_ballots_folds_their_answers_slots_into_the_count(poll):
    first, second, _ = poll.choices.all()
    for n in range(6):
        record_vote(poll=poll, choice_ids=[(first, second)[n % 2].pk], voter_key=f"k{n}")
    delete_votes(Vote.objects.filter(voter_key__in=["k0", "k1", "k2"]))  # 2 firsts, 1 second
    assert counts(poll) == [1, 2, 0]
    # Their slots were folded in, so the count never went below zero on the way.
    folded = dict(poll.choices.values_list("pk", "folded_votes"))
    assert (folded[first.pk], folded[second.pk]) == (1, 2)
    assert not ChoiceSlot.objects.filter(choice__in=[first, second]).exists()
    assert_counts_equal_ballots(poll)


def test_a_repair_corrects_by_the_difference_and_keeps_later_votes(poll):
    first = poll.choices.first()
    record_vote(poll=poll, choice_ids=[first.pk], voter_key="a")
    Choice.objects.filter(pk=first.pk).update(folded_votes=3)  # the count says 4, the rows 1
    recount()
    record_vote(poll=poll, choice_ids=[first.pk], voter_key="b")
    assert counts(poll) == [2, 0, 0]
    assert_counts_equal_ballots(poll)
    assert recount(repair=False) == []


def test_the_database_keeps_one_row_per_answer_and_slot(poll):
    answer = poll.choices.first()
    ChoiceSlot.objects.create(choice=answer, slot=1, votes=1)
    with pytest.raises(IntegrityError):
        ChoiceSlot.objects.create(choice=answer, slot=1, votes=1)
