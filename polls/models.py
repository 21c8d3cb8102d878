import datetime
import functools
import uuid
from collections import Counter

from django.db import models
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from .results import percentages, shares_of


class PollQuerySet(models.QuerySet):
    def started(self, at=None):
        """Polls that have opened (and may since have closed): the public archive."""
        return self.filter(opens_at__lte=at or timezone.now())

    def with_choices(self):
        """The polls with their answers, each answer with its count (`votes`)."""
        return self.prefetch_related(choices_with_votes())

    def with_voter_totals(self):
        """Each poll's number of voters as `total_votes`, counted in the same query."""
        ballots = (
            Vote.objects.filter(poll=models.OuterRef("pk"))
            .order_by()
            .values("poll")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return self.annotate(total_votes=Coalesce(models.Subquery(ballots), 0))

    def featured(self):
        """The poll staff feature site-wide, with its choices, once it has opened; else None."""
        return self.with_choices().started().filter(is_featured=True).first()


class Poll(models.Model):
    class ResultsVisibility(models.TextChoices):
        ALWAYS = "always", "Always"
        AFTER_VOTE = "after_vote", "After the visitor has voted"
        AFTER_CLOSE = "after_close", "After the poll closes"
        NEVER = "never", "Never (staff only)"

    question = models.CharField(max_length=300)
    slug = models.SlugField(max_length=100, unique=True)
    opens_at = models.DateTimeField(default=timezone.now, db_index=True)
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="Leave empty to keep the poll open."
    )
    results_visibility = models.CharField(
        "show results",
        max_length=20,
        choices=ResultsVisibility,
        default=ResultsVisibility.ALWAYS,
    )
    is_featured = models.BooleanField(
        "featured",
        default=False,
        help_text="Shown on the home page and beside articles without a poll of their own. "
        "Only one poll can be featured.",
    )
    max_choices = models.PositiveSmallIntegerField(
        "answers a reader may choose",
        default=1,
        help_text="1 for a single answer. More for “check all that apply”, up to this many.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PollQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-opens_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_featured"],
                condition=Q(is_featured=True),
                name="one_featured_poll",
                violation_error_message="Another poll is already featured.",
            ),
            models.CheckConstraint(
                condition=Q(closes_at__isnull=True) | Q(closes_at__gt=models.F("opens_at")),
                name="poll_closes_after_it_opens",
                violation_error_message="A poll must close after it opens.",
            ),
            models.CheckConstraint(
                condition=Q(max_choices__gte=1),
                name="poll_takes_at_least_one_answer",
                violation_error_message="A reader must be able to choose at least one answer.",
            ),
        ]

    def __str__(self):
        return self.question

    def get_absolute_url(self):
        return reverse("polls:detail", kwargs={"slug": self.slug})

    def has_opened(self, at=None):
        return self.opens_at <= (at or timezone.now())

    def has_closed(self, at=None):
        return self.closes_at is not None and self.closes_at <= (at or timezone.now())

    def is_open(self, at=None):
        at = at or timezone.now()
        return self.has_opened(at) and not self.has_closed(at)

    def results_visible_to(self, has_voted, at=None):
        """Whether a visitor may see the counts, under the poll's visibility setting."""
        if self.results_visibility == self.ResultsVisibility.ALWAYS:
            return True
        if self.results_visibility == self.ResultsVisibility.AFTER_VOTE:
            return has_voted or self.has_closed(at)
        if self.results_visibility == self.ResultsVisibility.NEVER:
            return False  # staff read them in the admin
        return self.has_closed(at)

    def results_are_public(self, at=None):
        """Whether the counts may be shown on the pages every reader shares."""
        return self.results_visible_to(has_voted=False, at=at)

    @property
    def allows_several(self):
        """Whether readers may choose several answers ("check all that apply")."""
        return self.max_choices > 1

    def counted_choices(self):
        """The answers in the staff's order, each with its count (`votes`).

        The prefetched ones when there are some (PollQuerySet.with_choices()), else one query.
        """
        if "choices" in getattr(self, "_prefetched_objects_cache", {}):
            return list(self.choices.all())
        return list(self.choices.with_votes())

    @property
    def answer_total(self):
        """Answers chosen, over all ballots: the sum of the answers' counts."""
        return sum(choice.votes for choice in self.counted_choices())

    @cached_property
    def total_votes(self):
        """Voters: the number of ballots. With one answer each, the same as `answer_total`.

        PollQuerySet.with_voter_totals() sets it in the query that reads the polls.
        """
        if not self.allows_several:
            return self.answer_total
        return self.ballots.count()

    def ballots_per_day(self, days=366):
        """[(date, ballots)] for each day from the first ballot to the last (or today, if the
        poll is still open), the days without ballots included; at most the last `days`."""
        counts = Counter()
        for tallies in (self.days, self.day_slots):  # before counter slots, and since
            for date, ballots in (
                tallies.values("date").annotate(n=Sum("ballots")).values_list("date", "n")
            ):
                counts[date] += ballots
        if not counts:
            return []
        first, last = min(counts), max(counts)
        if self.is_open():
            last = max(last, timezone.localdate())
        first = max(first, last - datetime.timedelta(days=days - 1))
        span = range((last - first).days + 1)
        return [(day, counts.get(day, 0)) for day in (first + datetime.timedelta(n) for n in span)]

    def results(self):
        """[(choice, percent)] in the staff's order.

        With one answer per ballot, the percentages are shares of the votes and add up to
        exactly 100. With several, each is the share of voters who chose that answer, so
        together they add up to more than 100.
        """
        choices = self.counted_choices()
        counts = [choice.votes for choice in choices]
        if self.allows_several:
            shares = [shares_of(count, self.total_votes) for count in counts]
        else:
            shares = percentages(counts)
        return list(zip(choices, shares, strict=True))


def choices_with_votes():
    """Prefetch polls' answers with their counts: `prefetch_related(choices_with_votes())`."""
    return models.Prefetch("choices", queryset=Choice.objects.with_votes())


@functools.cache
def votes_expression():
    """An answer's whole count: its folded count plus its slots' votes, one subquery.

    Built once: each query that uses it resolves a copy, and building it anew cost every read
    of the counts about 0.6 ms (docs/scaling.md).
    """
    slots = (
        ChoiceSlot.objects.filter(choice=OuterRef("pk"))
        .order_by()
        .values("choice")
        .annotate(n=Sum("votes"))
        .values("n")
    )
    return models.ExpressionWrapper(
        F("folded_votes") + Coalesce(Subquery(slots), 0),
        output_field=models.PositiveIntegerField(),
    )


class ChoiceQuerySet(models.QuerySet):
    def with_votes(self):
        """Each answer with its count as `votes`: its folded count plus its slots' votes.

        One subquery per answer, in the same query: no GROUP BY, so the queryset can still be
        ordered, filtered and locked like any other.
        """
        return self.annotate(votes=votes_expression())


class Choice(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)
    # The part of the count that is not in the slots (ChoiceSlot): every ballot counted before
    # there were slots, and what polls.services folds in when it corrects a count. Ballots
    # add to the slots. Read the whole count, `votes`, from ChoiceQuerySet.with_votes().
    # (The column keeps its first name, so that code from before the slots still counts.)
    folded_votes = models.PositiveIntegerField(default=0, editable=False, db_column="votes")

    objects = ChoiceQuerySet.as_manager()
    # The answer's text and order, never its count: the count is the readers' (they vote
    # through polls.services, which records no version either).
    history = HistoricalRecords(excluded_fields=["folded_votes"])

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "text"], name="unique_choice_text_per_poll"),
        ]

    def __str__(self):
        return self.text

    def get_absolute_url(self):
        return self.poll.get_absolute_url()


class ChoiceSlot(models.Model):
    """A share of one answer's count: its count is its `folded_votes` plus its slots' votes.

    A ballot adds one to a slot chosen at random (polls.services.COUNT_SLOTS of them), so
    simultaneous ballots for one answer seldom wait for the same row's lock, as they would if
    they all added to one row (docs/scaling.md). Written by polls.services only.
    """

    # No index of its own: the unique constraint's index starts with the answer.
    choice = models.ForeignKey(
        Choice, on_delete=models.CASCADE, related_name="slots", db_index=False
    )
    slot = models.PositiveSmallIntegerField()
    votes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["choice", "slot"], name="one_row_per_answer_slot"),
        ]

    def __str__(self):
        return f"{self.votes} votes in slot {self.slot} of “{self.choice}”"


class Vote(models.Model):
    """One accepted ballot. It names no person and no address, only a keyed hash of the voter.

    Its answers are its `selections`: one, or several in a "check all that apply" poll.
    Its id is random and it has no timestamp, so the order in which ballots were cast cannot
    be read back and matched against a web server's access log.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="ballots")
    choices = models.ManyToManyField(Choice, through="Selection", related_name="ballots")
    voter_key = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["poll"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "voter_key"], name="one_ballot_per_voter"),
        ]

    def __str__(self):
        return f"A ballot in “{self.poll}”"

    def get_absolute_url(self):
        return self.poll.get_absolute_url()

    @cached_property
    def choice_ids(self):
        """The ids of the answers on this ballot (polls.voters.ballot_of sets them as it reads)."""
        return [selection.choice_id for selection in self.selections.all()]

    @cached_property
    def chosen(self):
        """The answers on this ballot, in the poll's order."""
        return [choice for choice in self.poll.choices.all() if choice.pk in self.choice_ids]


class Selection(models.Model):
    """One answer chosen on one ballot. Each answer's `votes` counts these rows."""

    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="selections")
    choice = models.ForeignKey(Choice, on_delete=models.CASCADE, related_name="selections")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vote", "choice"], name="one_selection_per_answer"),
        ]

    def __str__(self):
        return f"“{self.choice}” on a ballot"


class PollDay(models.Model):
    """How many ballots one poll took on one day, as counted before there were counter slots.

    Ballots are now counted in PollDaySlot, and Poll.ballots_per_day() adds the two up. (Code
    from before the slots, still serving during a rolling deploy, writes here.) Both count
    ballots, never answers: joined with a web server's access log, a count per answer on a
    quiet day could tell what somebody answered.
    """

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="days")
    date = models.DateField()
    ballots = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["poll", "date"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "date"], name="one_count_per_poll_and_day"),
        ]

    def __str__(self):
        return f"{self.ballots} ballots on {self.date}"


class PollDaySlot(models.Model):
    """A share of the ballots one poll took on one day, for staff's chart of the poll over time.

    Written in the same transaction as the ballot (polls.services.record_vote), to a slot drawn
    at random, as its answers' counts are (ChoiceSlot), but apart from theirs. It counts
    ballots, never answers.
    """

    # No index of its own: the unique constraint's index starts with the poll.
    poll = models.ForeignKey(
        Poll, on_delete=models.CASCADE, related_name="day_slots", db_index=False
    )
    date = models.DateField()
    slot = models.PositiveSmallIntegerField()
    ballots = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["poll", "date", "slot"], name="one_row_per_poll_day_slot"
            ),
        ]

    def __str__(self):
        return f"{self.ballots} ballots on {self.date} in slot {self.slot}"


class AddressVoteCount(models.Model):
    """How many votes from one client address one poll has accepted in one hour.

    It names no address: `address_key` is an HMAC of the address with the poll and the hour
    (polls.ratelimit). Counts of past hours are deleted as new votes come in.
    """

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="+")
    hour = models.PositiveIntegerField(db_index=True, help_text="Hours since 1970.")
    address_key = models.CharField(max_length=64)
    votes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["poll", "hour", "address_key"], name="one_count_per_address_and_hour"
            ),
        ]

    def __str__(self):
        return f"{self.votes} votes in an hour from one address"
