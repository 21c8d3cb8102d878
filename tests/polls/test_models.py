import datetime

import pytest
from django.db import IntegrityError, transaction

from polls.models import Poll
from polls.results import percentages

pytestmark = pytest.mark.django_db

ONE_SECOND = datetime.timedelta(seconds=1)
ALWAYS, AFTER_VOTE, AFTER_CLOSE, NEVER = Poll.ResultsVisibility


@pytest.mark.parametrize(
    "counts",
    [[1, 1, 1], [2, 1], [3979, 0, 0], [1, 2, 3, 4, 5, 6, 7], [333, 333, 334], [1, 0, 0, 0, 0, 0]],
)
def test_percentages_add_up_to_100(counts):
    assert sum(percentages(counts)) == 100


def test_percentages_give_leftover_points_to_the_largest_remainders():
    assert percentages([1, 1, 1]) == [34, 33, 33]
    assert percentages([1, 2]) == [33, 67]
    assert percentages([1, 0, 0]) == [100, 0, 0]


def test_percentages_with_no_votes_are_all_zero():
    assert percentages([0, 0, 0]) == [0, 0, 0]


def test_poll_is_open_from_its_opening_second(make_poll, now):
    poll = make_poll(opens_at=now)
    assert poll.is_open(at=now)
    assert not poll.is_open(at=now - ONE_SECOND)


def test_poll_is_closed_from_its_closing_second(make_poll, now):
    poll = make_poll(opens_at=now - datetime.timedelta(days=1), closes_at=now)
    assert poll.is_open(at=now - ONE_SECOND)
    assert not poll.is_open(at=now)


def test_started_lists_opened_polls_and_not_future_ones(make_poll, now):
    opened = make_poll(opens_at=now)
    closed = make_poll(opens_at=now - datetime.timedelta(days=2), closes_at=now - ONE_SECOND)
    make_poll(opens_at=now + ONE_SECOND)
    assert set(Poll.objects.started(at=now)) == {opened, closed}


@pytest.mark.parametrize(
    ("visibility", "voted", "closed", "visible"),
    [
        (ALWAYS, False, False, True),
        (AFTER_VOTE, False, False, False),
        (AFTER_VOTE, True, False, True),
        (AFTER_VOTE, False, True, True),
        (AFTER_CLOSE, True, False, False),
        (AFTER_CLOSE, False, True, True),
        (NEVER, True, False, False),
        (NEVER, True, True, False),
    ],
)
def test_results_visibility_rules(make_poll, now, visibility, voted, closed, visible):
    closes_at = now - ONE_SECOND if closed else now + datetime.timedelta(days=1)
    poll = make_poll(results_visibility=visibility, closes_at=closes_at)
    assert poll.results_visible_to(has_voted=voted, at=now) is visible


@pytest.mark.parametrize(
    ("visibility", "closed", "public"),
    [
        (ALWAYS, False, True),
        (ALWAYS, True, True),
        (AFTER_VOTE, False, False),
        (AFTER_VOTE, True, True),
        (AFTER_CLOSE, False, False),
        (AFTER_CLOSE, True, True),
        (NEVER, True, False),
    ],
)
def test_results_are_public_only_where_a_reader_who_has_not_voted_may_see_them(
    make_poll, now, visibility, closed, public
):
    closes_at = now - ONE_SECOND if closed else now + datetime.timedelta(days=1)
    poll = make_poll(results_visibility=visibility, closes_at=closes_at)
    assert poll.results_are_public(at=now) is public


def test_results_become_public_from_the_closing_second(make_poll, now):
    poll = make_poll(results_visibility=AFTER_CLOSE, closes_at=now)
    assert poll.results_are_public(at=now - ONE_SECOND) is False
    assert poll.results_are_public(at=now) is True


def test_database_allows_only_one_featured_poll(make_poll):
    make_poll(is_featured=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_poll(is_featured=True)


def test_database_refuses_a_poll_that_closes_before_it_opens(make_poll, now):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_poll(opens_at=now, closes_at=now - ONE_SECOND)


def test_database_refuses_a_negative_count(poll):
    with pytest.raises(IntegrityError), transaction.atomic():
        poll.choices.filter(order=1).update(folded_votes=-1)


def test_choices_keep_the_staff_order(make_poll):
    poll = make_poll(choices=["B", "A", "C"])
    poll.choices.filter(text="C").update(order=0)
    assert [c.text for c in Poll.objects.with_choices().get(pk=poll.pk).choices.all()] == [
        "C",
        "B",
        "A",
    ]


def test_featured_returns_the_featured_poll_or_none(make_poll):
    assert Poll.objects.featured() is None
    featured = make_poll(is_featured=True)
    assert Poll.objects.featured() == featured
