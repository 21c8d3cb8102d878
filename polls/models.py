import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .results import percentages


class PollQuerySet(models.QuerySet):
    def started(self, at=None):
        """Polls that have opened (and may since have closed): the public archive."""
        return self.filter(opens_at__lte=at or timezone.now())

    def with_choices(self):
        return self.prefetch_related("choices")

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
    def total_votes(self):
        # Uses the prefetched choices when there are some (one query fewer on every page).
        if "choices" in getattr(self, "_prefetched_objects_cache", {}):
            return sum(choice.votes for choice in self.choices.all())
        return self.choices.aggregate(total=Sum("votes"))["total"] or 0

    def results(self):
        """[(choice, percent)] in the staff's order, the percentages adding up to 100."""
        choices = list(self.choices.all())
        return list(zip(choices, percentages([c.votes for c in choices]), strict=True))


class Choice(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)
    # Changed only by polls.services, in the same transaction as the Vote rows it counts.
    votes = models.PositiveIntegerField(default=0, editable=False)

    # The answer's text and order, never its count: the count is the readers' (they vote by
    # QuerySet.update in polls.services, which records no version either).
    history = HistoricalRecords(excluded_fields=["votes"])

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "text"], name="unique_choice_text_per_poll"),
        ]

    def __str__(self):
        return self.text

    def get_absolute_url(self):
        return self.poll.get_absolute_url()


class Vote(models.Model):
    """One accepted ballot. It names no person and no address, only a keyed hash of the voter.

    Its id is random and it has no timestamp, so the order in which ballots were cast cannot
    be read back and matched against a web server's access log.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="ballots")
    choice = models.ForeignKey(Choice, on_delete=models.CASCADE, related_name="ballots")
    voter_key = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["poll", "choice"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "voter_key"], name="one_ballot_per_voter"),
        ]

    def __str__(self):
        return f"A ballot in “{self.poll}”"

    def get_absolute_url(self):
        return self.poll.get_absolute_url()

    def clean(self):
        if self.choice_id and self.poll_id and self.choice.poll_id != self.poll_id:
            raise ValidationError({"choice": "That answer belongs to another poll."})
        if self.poll_id and not self.poll.is_open():
            raise ValidationError({"poll": "This poll is not open, so it takes no ballots."})


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
