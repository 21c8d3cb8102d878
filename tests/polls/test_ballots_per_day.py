"""Ballots per day, for staff: a tally written with each ballot, drawn as a chart in the admin.

It counts ballots per poll and day, never answers, and it is written in the ballot's own
transaction, so it never disagrees with the ballots cast that day. Ballots are counted in
PollDaySlot rows (counter slots); PollDay holds the tallies written before there were slots.
"""

import datetime
from http import HTTPStatus

import pytest
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from polls.models import PollDay, PollDaySlot, Vote
from polls.services import COUNT_SLOTS, InvalidChoice, delete_votes, record_vote

pytestmark = pytest.mark.django_db


def on(day, hour=12):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def ballots_today(poll):
    return dict(poll.ballots_per_day()).get(timezone.localdate(), 0)


@pytest.fixture
def week_old_poll(make_poll):
    return make_poll(opens_at=timezone.now() - datetime.timedelta(days=7))


def test_each_ballot_adds_one_to_its_polls_day(week_old_poll):
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    first, second, _ = week_old_poll.choices.all()
    record_vote(poll=week_old_poll, choice_ids=[first.pk], voter_key="a", at=on(yesterday))
    record_vote(poll=week_old_poll, choice_ids=[second.pk], voter_key="b", at=on(today, 9))
    record_vote(poll=week_old_poll, choice_ids=[first.pk], voter_key="c", at=on(today, 10))
    assert week_old_poll.ballots_per_day() == [(yesterday, 1), (today, 2)]


def test_a_ballot_with_several_answers_counts_once(make_poll):
    poll = make_poll(max_choices=3)
    record_vote(poll=poll, choice_ids=[c.pk for c in poll.choices.all()], voter_key="a")
    assert ballots_today(poll) == 1


def test_a_refused_ballot_adds_nothing(poll):
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a")
    with pytest.raises(InvalidChoice):
        record_vote(poll=poll, choice_ids=[987654], voter_key="b")
    assert ballots_today(poll) == 1


def test_polls_are_counted_apart(make_poll):
    one, two = make_poll(), make_poll()
    record_vote(poll=one, choice_ids=[one.choices.first().pk], voter_key="a")
    record_vote(poll=two, choice_ids=[two.choices.first().pk], voter_key="a")
    record_vote(poll=two, choice_ids=[two.choices.first().pk], voter_key="b")
    assert ballots_today(one) == 1
    assert ballots_today(two) == 2


def test_the_tally_holds_the_poll_the_day_and_a_number_only():
    assert {f.name for f in PollDay._meta.concrete_fields} == {"id", "poll", "date", "ballots"}
    assert {f.name for f in PollDaySlot._meta.concrete_fields} == {
        "id",
        "poll",
        "date",
        "slot",
        "ballots",
    }


def test_the_database_keeps_one_tally_per_poll_day_and_slot(poll):
    PollDaySlot.objects.create(poll=poll, date=datetime.date(2026, 1, 1), slot=3, ballots=1)
    PollDaySlot.objects.create(poll=poll, date=datetime.date(2026, 1, 1), slot=4, ballots=1)
    with pytest.raises(IntegrityError):
        PollDaySlot.objects.create(poll=poll, date=datetime.date(2026, 1, 1), slot=3, ballots=1)


def test_a_days_ballots_spread_over_its_slots_and_add_up(poll):
    for n in range(40):
        record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key=f"k{n}")
    slots = PollDaySlot.objects.filter(poll=poll).values_list("slot", flat=True)
    assert set(slots) <= set(range(COUNT_SLOTS))
    assert len(slots) > 1  # 40 ballots all in one of 16 slots: a chance of 1 in 16**39
    assert ballots_today(poll) == 40


def test_tallies_from_before_the_slots_are_added_in(poll):
    """Days counted before the slots, or by a server of the previous release during a rolling
    deploy, still count."""
    PollDay.objects.create(poll=poll, date=timezone.localdate(), ballots=5)
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a")
    assert ballots_today(poll) == 6


def test_ballots_removed_by_staff_stay_in_their_days_count(poll):
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a")
    delete_votes(Vote.objects.all())
    assert ballots_today(poll) == 1


def test_ballots_per_day_fills_the_quiet_days_up_to_today_while_open(week_old_poll):
    today = timezone.localdate()
    first = week_old_poll.choices.first()
    start = today - datetime.timedelta(days=4)
    record_vote(poll=week_old_poll, choice_ids=[first.pk], voter_key="a", at=on(start))
    record_vote(
        poll=week_old_poll,
        choice_ids=[first.pk],
        voter_key="b",
        at=on(today - datetime.timedelta(days=2)),
    )
    assert week_old_poll.ballots_per_day() == [
        (start, 1),
        (start + datetime.timedelta(days=1), 0),
        (start + datetime.timedelta(days=2), 1),
        (start + datetime.timedelta(days=3), 0),
        (today, 0),
    ]


def test_ballots_per_day_of_a_closed_poll_ends_with_its_last_ballot(make_poll):
    poll = make_poll(opens_at=timezone.now() - datetime.timedelta(days=30))
    day = timezone.localdate() - datetime.timedelta(days=20)
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a", at=on(day))
    poll.closes_at = timezone.now() - datetime.timedelta(days=10)
    poll.save()
    assert poll.ballots_per_day() == [(day, 1)]


def test_ballots_per_day_keeps_the_last_year_at_most(make_poll):
    poll = make_poll(opens_at=timezone.now() - datetime.timedelta(days=800))
    today = timezone.localdate()
    old = today - datetime.timedelta(days=700)
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a", at=on(old))
    days = poll.ballots_per_day()
    assert len(days) == 366
    assert days[-1] == (today, 0)


def test_the_poll_change_page_draws_ballots_per_day_with_its_figures(admin_client, poll):
    for key in ("a", "b", "c"):
        Client().post(reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk})
        record_vote(poll=poll, choice_ids=[poll.choices.last().pk], voter_key=key)
    page = admin_client.get(reverse("admin:polls_poll_change", args=[poll.pk])).text
    today = timezone.localdate()
    assert '<svg viewBox="0 0 720 160"' in page
    assert 'role="img"' in page
    assert f"{today:%-d %b %Y}: 6</title>" in page  # the bar's own label
    assert f'<td><time datetime="{today.isoformat()}">' in page  # the same figure as a table
    assert "6 in all, at most 6 in a day." in page
    assert "never per answer" in page


def test_a_poll_without_ballots_says_so_instead_of_a_chart(admin_client, poll):
    page = admin_client.get(reverse("admin:polls_poll_change", args=[poll.pk])).text
    assert "No ballots yet." in page
    assert "<svg viewBox" not in page


def test_the_chart_loads_nothing_from_another_site(admin_client, poll):
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="a")
    response = admin_client.get(reverse("admin:polls_poll_change", args=[poll.pk]))
    assert response.status_code == HTTPStatus.OK
    chart = response.text.split('<figure class="ballots-chart">')[1].split("</figure>")[0]
    assert "http" not in chart
    assert "<script" not in chart
