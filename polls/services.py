"""Recording votes: the one place that writes ballots and counts.

The view, the admin and the tests all call these functions, so the rules hold everywhere:
a Vote row and its count are written in one transaction, the count is incremented by the
database (never read, changed and written back in Python), and the database's unique
constraint on (poll, voter_key) refuses a second ballot, even when both arrive at once.
"""

from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Choice, Poll, Vote


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


class AlreadyVoted(VoteRejected):
    message = "You have already voted in this poll. Your first vote was counted."


def record_vote(*, poll, choice_id, voter_key, at=None):
    """Count one ballot for `choice_id` in `poll`, cast by `voter_key`. Returns the Vote.

    Raises PollNotOpen, PollClosed, InvalidChoice or AlreadyVoted, with nothing written.
    """
    at = at or timezone.now()
    if not poll.has_opened(at):
        raise PollNotOpen
    if poll.has_closed(at):
        raise PollClosed
    if not voter_key:
        raise ValueError("A vote needs a voter key.")
    try:
        with transaction.atomic():
            vote = Vote.objects.create(poll=poll, choice_id=choice_id, voter_key=voter_key)
            counted = Choice.objects.filter(pk=choice_id, poll=poll).update(votes=F("votes") + 1)
            if counted != 1:
                raise InvalidChoice  # rolls back the Vote row too
    except IntegrityError as error:
        if Vote.objects.filter(poll=poll, voter_key=voter_key).exists():
            raise AlreadyVoted from error
        raise InvalidChoice from error  # the choice does not exist
    return vote


def delete_votes(votes):
    """Delete ballots and take them off their counts, in one transaction. Returns how many."""
    with transaction.atomic():
        ballots = list(votes.select_for_update().values_list("pk", "choice_id"))
        Vote.objects.filter(pk__in=[pk for pk, _ in ballots]).delete()
        for choice_id, n in Counter(choice_id for _, choice_id in ballots).items():
            Choice.objects.filter(pk=choice_id).update(votes=F("votes") - n)
    return len(ballots)


def recount(polls=None, *, repair=True):
    """Compare every choice's count with its Vote rows; repair the drift if asked.

    Returns [(choice, counted, rows)] for the choices whose count was wrong. The choices are
    locked first, so votes arriving meanwhile wait and are counted on top of the repaired value.
    """
    polls = polls if polls is not None else Poll.objects.all()
    rows = Subquery(
        Vote.objects.filter(choice=OuterRef("pk"))
        .order_by()
        .values("choice")
        .annotate(n=Count("pk"))
        .values("n")
    )
    with transaction.atomic():
        choices = Choice.objects.filter(poll__in=polls)
        list(choices.select_for_update().values_list("pk", flat=True))  # take the locks
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
