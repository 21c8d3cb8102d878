"""Recording votes: the one place that writes ballots and counts.

The view, the admin and the tests all call these functions, so the rules hold everywhere:
a ballot (Vote), its answers (Selection rows), their counts and the day's tally (PollDay) are
written in one transaction; counts are incremented by the database (never read, changed and
written back in Python); and the database's unique constraint on (poll, voter_key) refuses a
second ballot, even when both arrive at once. With read replicas, all of it reads from the
primary (psyweb.routers.primary): a count or a ballot is never checked against a copy that
lags.
"""

from collections import Counter

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from psyweb.routers import primary

from .models import Choice, Poll, PollDay, Selection, Vote


class VoteRejected(Exception):
    """The ballot was not counted; the message says why, for the voter."""

    message = "Your vote was not counted."

    def __init__(self, message=None):
        super().__init__(message or self.message)
        self.message = message or self.message


class PollNotOpen(VoteRejected):
    message = "This poll is not open for voting yet."


class PollClosed(VoteRejected):
    message = "This poll has closed, so it no longer takes votes."


class InvalidChoice(VoteRejected):
    message = "That answer is not one of this poll's answers."


class TooManyChoices(VoteRejected):
    message = "Please choose fewer answers."

    def __init__(self, limit):
        if limit == 1:
            super().__init__("Please choose only one answer.")
        else:
            super().__init__(f"Please choose at most {limit} answers.")


class AlreadyVoted(VoteRejected):
    message = "You have already voted in this poll. Your first vote was counted."


@primary()
def record_vote(*, poll, choice_ids, voter_key, at=None):
    """Count one ballot for the answers `choice_ids` in `poll`, cast by `voter_key`.

    Returns the Vote. Raises PollNotOpen, PollClosed, InvalidChoice, TooManyChoices or
    AlreadyVoted, with nothing written.
    """
    at = at or timezone.now()
    if not poll.has_opened(at):
        raise PollNotOpen
    if poll.has_closed(at):
        raise PollClosed
    if not voter_key:
        raise ValueError("A vote needs a voter key.")
    choice_ids = sorted(set(choice_ids))  # sorted: concurrent ballots lock answers in one order
    if not choice_ids:
        raise InvalidChoice
    if len(choice_ids) > poll.max_choices:
        raise TooManyChoices(poll.max_choices)
    try:
        with transaction.atomic():
            vote = Vote.objects.create(poll=poll, voter_key=voter_key)
            Selection.objects.bulk_create(Selection(vote=vote, choice_id=pk) for pk in choice_ids)
            # One answer at a time, in id order: two ballots never wait on each other's locks
            # the other way round, so they cannot deadlock.
            for choice_id in choice_ids:
                if not Choice.objects.filter(pk=choice_id, poll=poll).update(votes=F("votes") + 1):
                    raise InvalidChoice  # rolls the ballot back too
            count_the_day(poll, timezone.localdate(at))
    except IntegrityError as error:
        if Vote.objects.filter(poll=poll, voter_key=voter_key).exists():
            raise AlreadyVoted from error
        raise InvalidChoice from error  # an answer that does not exist
    vote.choice_ids = choice_ids
    return vote


def count_the_day(poll, date):
    """Add one ballot to `poll`'s tally for `date`, inside the ballot's transaction.

    One upsert (PostgreSQL and SQLite share the syntax): the day's first ballot makes the row,
    the others add to it, and two first ballots at once cannot both make it.
    """
    table = connection.ops.quote_name(PollDay._meta.db_table)  # the model's, not input
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (poll_id, date, ballots) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (poll_id, date) DO UPDATE SET ballots = {table}.ballots + 1",
            [poll.pk, connection.ops.adapt_datefield_value(date)],
        )


@primary()
def delete_votes(votes):
    """Delete ballots and take their answers off the counts, in one transaction.

    Returns how many ballots. The days' tallies keep them: they count ballots cast, and a
    ballot keeps no date to take it off by.
    """
    with transaction.atomic():
        ballots = list(votes.select_for_update().values_list("pk", flat=True))
        chosen = Counter(
            Selection.objects.filter(vote__in=ballots).values_list("choice_id", flat=True)
        )
        Vote.objects.filter(pk__in=ballots).delete()  # and their selections, by cascade
        for choice_id, n in sorted(chosen.items()):
            Choice.objects.filter(pk=choice_id).update(votes=F("votes") - n)
    return len(ballots)


@primary()
def recount(polls=None, *, repair=True):
    """Compare every answer's count with its Selection rows; repair the drift if asked.

    Returns [(choice, counted, rows)] for the choices whose count was wrong. The choices are
    locked first, so votes arriving meanwhile wait and are counted on top of the repaired value.
    """
    polls = polls if polls is not None else Poll.objects.all()
    rows = Subquery(
        Selection.objects.filter(choice=OuterRef("pk"))
        .order_by()
        .values("choice")
        .annotate(n=Count("pk"))
        .values("n")
    )
    with transaction.atomic():
        choices = Choice.objects.filter(poll__in=polls)
        # Take the locks in id order, as record_vote does: the two never wait on each other.
        list(choices.select_for_update().order_by("pk").values_list("pk", flat=True))
        drifted = [
            (choice, choice.votes, choice.rows)
            for choice in choices.select_related("poll")
            .annotate(rows=Coalesce(rows, Value(0)))
            .order_by("poll_id", "order", "pk")
            if choice.votes != choice.rows
        ]
        if repair:
            for choice, _, actual in drifted:
                Choice.objects.filter(pk=choice.pk).update(votes=actual)
    return drifted
