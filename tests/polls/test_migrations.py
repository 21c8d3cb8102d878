"""Data migrations of the polls app."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F
from django.utils import timezone

from polls.models import Poll
from polls.services import record_vote, recount


@pytest.mark.django_db(transaction=True)
def test_each_existing_ballot_keeps_its_answer_when_answers_move_to_their_own_rows():
    before, after = [("polls", "0004_results_never")], [("polls", "0005_ballot_answers")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    poll = old.get_model("polls", "Poll").objects.create(
        question="Q?", slug="q", opens_at=timezone.now() - datetime.timedelta(days=1)
    )
    yes, no = (poll.choices.create(text=text, order=n) for n, text in enumerate(["Yes", "No"]))
    Vote = old.get_model("polls", "Vote")
    for key, choice in [("a", yes), ("b", yes), ("c", no)]:
        Vote.objects.create(poll=poll, choice=choice, voter_key=key)
        type(choice).objects.filter(pk=choice.pk).update(votes=choice.votes + 1)
        choice.refresh_from_db()

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    Selection = new.get_model("polls", "Selection")
    answers = sorted(Selection.objects.values_list("vote__voter_key", "choice__text"))
    assert answers == [("a", "Yes"), ("b", "Yes"), ("c", "No")]
    assert new.get_model("polls", "Poll").objects.get().max_choices == 1

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert recount(repair=False) == []  # the counts still equal the (moved) answers


@pytest.mark.django_db(transaction=True)
def test_counter_slots_keep_every_count_and_day_and_count_the_old_codes_ballots_too():
    """0006 only adds tables and renames `Choice.votes` in Django's state: the counts stay in
    their column, and ballots that the code before it writes during a rolling deploy (to that
    column and to PollDay) are counted along with the new code's slots."""
    before, after = [("polls", "0005_ballot_answers")], [("polls", "0006_counter_slots")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    poll = old.get_model("polls", "Poll").objects.create(
        question="Q?", slug="q", opens_at=timezone.now() - datetime.timedelta(days=1)
    )
    yes, no = (poll.choices.create(text=text, order=n) for n, text in enumerate(["Yes", "No"]))
    today = timezone.localdate()

    def old_ballot(key, choice):
        """What polls.services did before the slots, through 0005's models."""
        ballot = old.get_model("polls", "Vote").objects.create(poll_id=poll.pk, voter_key=key)
        old.get_model("polls", "Selection").objects.create(vote=ballot, choice_id=choice.pk)
        Choice = old.get_model("polls", "Choice")
        Choice.objects.filter(pk=choice.pk).update(votes=F("votes") + 1)
        PollDay = old.get_model("polls", "PollDay")
        day, _ = PollDay.objects.get_or_create(poll_id=poll.pk, date=today)
        PollDay.objects.filter(pk=day.pk).update(ballots=F("ballots") + 1)

    old_ballot("a", yes)
    old_ballot("b", yes)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    old_ballot("c", no)  # an old server, still serving during the rollout

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    new_poll = Poll.objects.get()
    record_vote(poll=new_poll, choice_ids=[no.pk], voter_key="d")  # a new server
    counts = dict(new_poll.choices.with_votes().values_list("text", "votes"))
    assert counts == {"Yes": 2, "No": 2}
    assert new_poll.ballots_per_day() == [(today, 4)]
    assert recount(repair=False) == []
