"""Data migrations of the polls app."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from polls.services import recount


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
