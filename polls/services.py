"""Recording votes: the one place that writes ballots and counts.

The view, the admin and the tests all call these functions, so the rules hold everywhere:
a ballot (Vote), its answers (Selection rows), their counts and the day's tally are written in
one transaction; counts are incremented by the database (never read, changed and written back
in Python); and the database's unique constraint on (poll, voter_key) refuses a second ballot,
even when both arrive at once. With read replicas, all of it reads from the primary
(psyweb.routers.primary): a count or a ballot is never checked against a copy that lags.

Counter slots: a ballot adds one to a slot of each of its answers (ChoiceSlot) and of the
day's tally (PollDaySlot), each slot chosen at random among COUNT_SLOTS. So simultaneous
ballots for one answer take turns on COUNT_SLOTS rows instead of queueing on one; readers add
the slots up. The day's slot is drawn apart from the answers' slots: were they the same, a
day's slot row with one ballot in it would point at that ballot's answers in the answers' rows
of that slot, which is what the day's tally must never tell (PollDay).

`delete_votes` and `recount` change a count relatively, folding the answer's slots into its
`folded_votes` as they go (`fold`), and never lock an answer against ballots: a ballot takes
its share locks on its answers (FOR KEY SHARE, for the foreign keys, which Django defers) only
as it commits, after it has added to its slots, so a lock on the answer held while waiting for
one of those slots would deadlock.
"""

import random
from collections import Counter

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from psyweb.routers import primary

from .models import Choice, ChoiceSlot, Poll, PollDaySlot, Selection, Vote

# Rows per answer and per poll's day. 16 took one answer from 409 to 637 ballots a second with
# 64 writers, within 90-96 % of ballots that share no row at all (bench/hot_poll.py,
# docs/scaling.md); 64 gained little more, for a larger sum on every read.
COUNT_SLOTS = 16


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
                if not count_the_answer(poll, choice_id, any_slot()):
                    raise InvalidChoice  # rolls the ballot back too
            count_the_day(poll, timezone.localdate(at), any_slot())
    except IntegrityError as error:
        if Vote.objects.filter(poll=poll, voter_key=voter_key).exists():
            raise AlreadyVoted from error
        raise InvalidChoice from error  # an answer that does not exist
    vote.choice_ids = choice_ids
    return vote


def any_slot():
    """A slot drawn at random: it spreads the writes, and keeps no secret."""
    return random.randrange(COUNT_SLOTS)  # noqa: S311


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)  # the model's name, never input


def count_the_answer(poll, choice_id, slot):
    """Add one to `slot` of the answer `choice_id`, inside the ballot's transaction.

    One upsert (PostgreSQL and SQLite share the syntax): the slot's first ballot makes its row,
    the others add to it, and two first ballots at once cannot both make it. The row is made
    from the answer's own row, so an answer of another poll (or none) makes nothing: returns
    False then.
    """
    slots, choices = _table(ChoiceSlot), _table(Choice)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {slots} (choice_id, slot, votes) "  # noqa: S608
            f"SELECT id, %s, 1 FROM {choices} WHERE id = %s AND poll_id = %s "
            f"ON CONFLICT (choice_id, slot) DO UPDATE SET votes = {slots}.votes + 1",
            [slot, choice_id, poll.pk],
        )
        return cursor.rowcount == 1


def count_the_day(poll, date, slot):
    """Add one ballot to `slot` of `poll`'s tally for `date`, inside the ballot's transaction."""
    days = _table(PollDaySlot)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {days} (poll_id, date, slot, ballots) VALUES (%s, %s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (poll_id, date, slot) DO UPDATE SET ballots = {days}.ballots + 1",
            [poll.pk, connection.ops.adapt_datefield_value(date), slot],
        )


def fold(choice_id, change=0):
    """Move the answer's slots into its `folded_votes`, plus `change`, inside the caller's
    transaction.

    DELETE … RETURNING moves each slot's votes as they are when it is deleted: a ballot in
    flight that has added to a slot is waited for and moved with it, and one that makes a new
    slot meanwhile keeps its vote there. Either way the whole count changes by `change` only.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_table(ChoiceSlot)} WHERE choice_id = %s RETURNING votes",  # noqa: S608
            [choice_id],
        )
        change += sum(votes for (votes,) in cursor.fetchall())
    if change:
        Choice.objects.filter(pk=choice_id).update(folded_votes=F("folded_votes") + change)


@primary()
def delete_votes(votes):
    """Delete ballots and take their answers off the counts, in one transaction.

    Returns how many ballots. The days' tallies keep them: they count ballots cast, and a
    ballot keeps no date to take it off by.
    """
    with transaction.atomic():
        # Only the ballots' rows, in one order: Vote's default ordering joins the poll, whose
        # row FOR UPDATE would hold off every ballot's commit (its foreign key's share lock).
        ballots = list(
            votes.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True)
        )
        chosen = Counter(
            Selection.objects.filter(vote__in=ballots).values_list("choice_id", flat=True)
        )
        Vote.objects.filter(pk__in=ballots).delete()  # and their selections, by cascade
        # In id order, as ballots add to their answers' slots: the two cannot deadlock.
        for choice_id, n in sorted(chosen.items()):
            fold(choice_id, -n)  # the slots too, so that `folded_votes` never goes below 0
    return len(ballots)


@primary()
def recount(polls=None, *, repair=True):
    """Compare every answer's count with its Selection rows; repair the drift if asked.

    Returns [(choice, counted, rows)] for the choices whose count was wrong, and corrects each
    by the difference. Counts and rows are read by one statement, so from one snapshot, in
    which every ballot is counted entirely or not at all; ballots counted meanwhile change
    both alike, so the difference read is still the one to correct, and nothing waits for the
    repair. Two recounts of one poll take turns (the poll's row, locked FOR NO KEY UPDATE,
    which ballots' share locks do not wait for), so a drift is never corrected twice.
    """
    if polls is None:
        polls = Poll.objects.all()
    elif not isinstance(polls, QuerySet):
        polls = Poll.objects.filter(pk__in=[poll.pk for poll in polls])
    rows = Subquery(
        Selection.objects.filter(choice=OuterRef("pk"))
        .order_by()
        .values("choice")
        .annotate(n=Count("pk"))
        .values("n")
    )
    with transaction.atomic():
        list(polls.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True))
        choices = Choice.objects.filter(poll__in=polls)
        drifted = [
            (choice, choice.votes, choice.rows)
            for choice in choices.with_votes()
            .select_related("poll")
            .annotate(rows=Coalesce(rows, Value(0)))
            .order_by("poll_id", "order", "pk")
            if choice.votes != choice.rows
        ]
        if repair:
            for choice, counted, actual in sorted(drifted, key=lambda row: row[0].pk):
                fold(choice.pk, actual - counted)
    return drifted
