import re

from django.conf import settings
from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
)
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import connection, models
from django.db.models import F, Func, Q, Value, prefetch_related_objects
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import slugify
from imagekit.models import ImageSpecField
from imagekit.processors import ResizeToFill, ResizeToFit
from simple_history.models import HistoricalRecords

from polls.models import Poll, choices_with_votes

from .markup import POLL_SLUG, citations, poll_slugs, render_markdown, section_headings

# A search uses at most this many words (SQLite: one condition per word).
SEARCH_MAX_WORDS = 10

# Links a reader can follow from an article: the web, nothing else
# (never javascript:, data: or vbscript:).
web_url_validator = URLValidator(schemes=["http", "https"])


class WebURLField(models.URLField):
    """A URL field that only accepts http and https links."""

    default_validators = [web_url_validator]

    def formfield(self, **kwargs):
        # A link typed without a scheme ("example.org") is taken as https.
        return super().formfield(**{"assume_scheme": "https", **kwargs})


class TopicQuerySet(models.QuerySet):
    def with_published_articles(self, at=None):
        """Topics a reader can browse: those with at least one published article."""
        articles = Article.objects.published(at).filter(topic=models.OuterRef("pk"))
        return self.filter(models.Exists(articles))


class Topic(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_sensitive = models.BooleanField(
        "sensitive",
        default=False,
        help_text="Articles in this topic show the crisis notice (suicide, self-harm, abuse …).",
    )

    objects = TopicQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:topic", kwargs={"slug": self.slug})


class Contributor(models.Model):
    """A person who writes or medically reviews articles: a public profile, not a login."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True, help_text="The profile's address.")
    credentials = models.CharField(
        max_length=200, blank=True, help_text="For example “PhD, clinical psychologist”."
    )
    bio = models.TextField(blank=True, help_text="A few sentences, plain text.")
    photo = models.ImageField(upload_to="contributors/", blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:author", kwargs={"slug": self.slug})


class CrisisNotice(models.Model):
    """Where to turn in a crisis, shown on articles in sensitive topics. There is one."""

    text = models.CharField(
        max_length=300,
        help_text="One short line, for example “If you are in crisis, contact your local "
        "emergency number or a crisis line.” Write it for your readers' country.",
    )
    helpline_name = models.CharField(max_length=200, blank=True)
    helpline_number = models.CharField(max_length=50, blank=True)
    helpline_url = WebURLField("helpline link", blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pk=1),
                name="single_crisis_notice",
                violation_error_message="The site has one crisis notice; edit it instead.",
            ),
        ]

    def __str__(self):
        return "Crisis notice"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("articles:index")


class DisclaimerQuerySet(models.QuerySet):
    def default(self):
        """The site default disclaimer, or None if staff have not marked one."""
        return self.filter(is_default=True).first()


class Disclaimer(models.Model):
    """A reusable medical disclaimer. The one marked default is used when an article names none."""

    name = models.CharField(max_length=100, unique=True, help_text="For staff only.")
    text = models.TextField(
        help_text="Plain text shown under the article. A link to the Legal Statement follows it."
    )
    is_default = models.BooleanField(
        "site default",
        default=False,
        help_text="Shown under articles that name no disclaimer. Only one can be the default.",
    )

    objects = DisclaimerQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="one_default_disclaimer",
                violation_error_message="Another disclaimer is already the site default.",
            ),
        ]

    def __str__(self):
        return self.name


class LegalStatement(models.Model):
    """The site's Legal Statement, at /legal/. There is exactly one; staff edit it in the admin."""

    title = models.CharField(max_length=200, default="Legal Statement")
    body = models.TextField(help_text="Markdown.")
    body_html = models.TextField(editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # body_html is rendered from body on every save, a restore too: no need to keep it twice.
    history = HistoricalRecords(excluded_fields=["body_html"])

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pk=1),
                name="single_legal_statement",
                violation_error_message="The site has one Legal Statement; edit it instead.",
            ),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.pk = 1
        self.body_html = render_markdown(self.body)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("articles:legal")


# Full-text search on PostgreSQL. The article's own text, weighted (title above summary above
# body), is indexed by `article_search` (a GIN index on this very expression, so a query that
# filters on it uses the index); topic and author names live in other tables, which an index on
# articles cannot reach, so they are matched through their ids and weigh like the summary.
SEARCH_CONFIG = "english"


def article_document():
    return (
        SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("summary", weight="B", config=SEARCH_CONFIG)
        + SearchVector("body", weight="C", config=SEARCH_CONFIG)
    )


# A line of the body that places a poll (`[poll:<slug>]`), as a PostgreSQL regular expression
# for newline-sensitive matching: readers never see it as text, so no headline shows it.
POLL_MARKER_LINE = rf"^[ \t]*\[poll:{POLL_SLUG}\][ \t\r]*$"


def without_poll_markers(field):
    """The field's text without its poll markers' lines (PostgreSQL)."""
    return Func(
        F(field), Value(POLL_MARKER_LINE), Value(""), Value("gn"), function="REGEXP_REPLACE"
    )


def escaped(field):
    """The field's text, HTML-escaped by the database, for a headline that marks matches."""
    text = field if hasattr(field, "resolve_expression") else F(field)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = Replace(text, Value(char), Value(entity))
    return text


class ArticleQuerySet(models.QuerySet):
    def search(self, query):
        """Articles whose title, summary, body, topic or author match every word of `query`.

        On PostgreSQL: full-text search, best match first, each article with `summary_marked`
        and `body_snippet`, HTML-escaped text in which the matches are wrapped in <mark>.
        Elsewhere (SQLite): each word anywhere in those fields, newest first.
        """
        if connection.vendor == "postgresql":
            return self._full_text_search(query)
        words = re.findall(r"\w+", query)[:SEARCH_MAX_WORDS]  # punctuation is no word
        if not words:
            return self.none()
        matches = Q()
        for word in words:
            matches &= (
                Q(title__icontains=word)
                | Q(summary__icontains=word)
                | Q(body__icontains=word)
                | Q(topic__name__icontains=word)
                | Q(author__name__icontains=word)
            )
        return self.filter(matches)

    def _full_text_search(self, query):
        query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
        names = SearchVector("name", config=SEARCH_CONFIG)
        topic_ids = Topic.objects.annotate(document=names).filter(document=query)
        author_ids = Contributor.objects.annotate(document=names).filter(document=query)
        document = (
            article_document()
            + SearchVector("topic__name", weight="B", config=SEARCH_CONFIG)
            + SearchVector("author__name", weight="B", config=SEARCH_CONFIG)
        )
        marks = {"start_sel": "<mark>", "stop_sel": "</mark>", "config": SEARCH_CONFIG}
        return (
            self.annotate(own_document=article_document())
            .filter(
                Q(own_document=query)
                | Q(topic__in=list(topic_ids.values_list("pk", flat=True)))
                | Q(author__in=list(author_ids.values_list("pk", flat=True)))
            )
            .annotate(
                rank=SearchRank(document, query),
                summary_marked=SearchHeadline(
                    escaped("summary"), query, highlight_all=True, **marks
                ),
                body_snippet=SearchHeadline(
                    escaped(without_poll_markers("body")), query, max_fragments=2, max_words=25,
                    min_words=10, fragment_delimiter=" … ", **marks,
                ),
            )
            .order_by("-rank", "-published_at", "-pk")
        )  # fmt: skip

    def published(self, at=None):
        """Articles a reader may see (at `at`, default now): published, and their time has come."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__lte=at or timezone.now())

    def for_listing(self):
        return self.select_related("topic").only(
            "title", "slug", "summary", "published_at", "topic__name", "topic__slug",
            "image", "image_width", "image_height",
        )  # fmt: skip


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=200, unique=True, help_text="The article's address; made from the title."
    )
    summary = models.TextField(
        max_length=300,
        help_text="One or two sentences for article lists and search engines.",
    )
    body = models.TextField(
        help_text="Markdown. Use ## for sub-headings and 1. for numbered lists.",
    )
    body_html = models.TextField(editable=False)

    image = models.ImageField(
        upload_to="articles/%Y/%m/",
        blank=True,
        width_field="image_width",
        height_field="image_height",
    )
    image_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    image_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    image_alt = models.CharField(
        "image alt text",
        max_length=250,
        blank=True,
        help_text="What the image shows, for readers who cannot see it. Required with an image.",
    )
    image_caption = models.CharField(
        max_length=300, blank=True, help_text="Shown under the image, before the credit."
    )
    # The lead image in the sizes readers' screens need, made from it on first use (imagekit)
    # and served by the site itself, like the original.
    image_480 = ImageSpecField(
        source="image", processors=[ResizeToFit(480, upscale=False)], format="JPEG",
        options={"quality": 82},
    )  # fmt: skip
    image_960 = ImageSpecField(
        source="image", processors=[ResizeToFit(960, upscale=False)], format="JPEG",
        options={"quality": 82},
    )  # fmt: skip
    image_1440 = ImageSpecField(
        source="image", processors=[ResizeToFit(1440, upscale=False)], format="JPEG",
        options={"quality": 82},
    )  # fmt: skip
    image_thumbnail = ImageSpecField(
        source="image", processors=[ResizeToFill(240, 160)], format="JPEG",
        options={"quality": 80},
    )  # fmt: skip
    photo_credit = models.CharField(max_length=200, blank=True)
    photo_credit_url = WebURLField("photo credit link", blank=True)
    photo_licence = models.CharField(max_length=100, blank=True)

    disclaimer = models.ForeignKey(
        Disclaimer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="articles",
        help_text="Leave empty to use the site default.",
    )
    topic = models.ForeignKey(
        Topic, on_delete=models.PROTECT, null=True, blank=True, related_name="articles"
    )
    poll = models.ForeignKey(
        "polls.Poll",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="articles",
        help_text="Shown beside the article. Leave empty to show the featured poll.",
    )

    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    published_at = models.DateTimeField(
        "publication date",
        null=True,
        blank=True,
        db_index=True,
        help_text="A date in the future schedules the article.",
    )
    revised_at = models.DateTimeField(
        "updated",
        null=True,
        blank=True,
        help_text="When the content last changed significantly; readers see “Updated …”.",
    )
    author = models.ForeignKey(
        Contributor, on_delete=models.PROTECT, null=True, blank=True, related_name="articles"
    )
    medical_reviewer = models.ForeignKey(
        Contributor,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reviewed_articles",
    )
    last_reviewed = models.DateField("last medically reviewed", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The staff account that created the article.",
    )

    objects = ArticleQuerySet.as_manager()
    # body_html is rendered from body on every save, a restore too: no need to keep it twice.
    history = HistoricalRecords(excluded_fields=["body_html"])

    class Meta:
        ordering = ["-published_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft") | Q(published_at__isnull=False),
                name="published_article_has_date",
                violation_error_message="A published article needs a publication date.",
            ),
            models.CheckConstraint(
                condition=Q(image="") | ~Q(image_alt=""),
                name="article_image_has_alt_text",
                violation_error_message="Describe the image in its alt text.",
            ),
            models.CheckConstraint(
                condition=Q(medical_reviewer__isnull=True, last_reviewed__isnull=True)
                | Q(medical_reviewer__isnull=False, last_reviewed__isnull=False),
                name="medical_review_has_reviewer_and_date",
                violation_error_message="A medical review needs both the reviewer and the date.",
            ),
        ]
        # The full-text search index (ArticleQuerySet.search, article_document()) exists on
        # PostgreSQL only and is kept out of the model's state: see migrations 0009 and 0010.

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = self._unique_slug()
        self.body_html = render_markdown(self.body, polls=True)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("articles:detail", kwargs={"slug": self.slug})

    def clean(self):
        if self.status == self.Status.PUBLISHED and self.published_at is None:
            self.published_at = timezone.now()
        if self.image and not self.image_alt.strip():
            raise ValidationError(
                {"image_alt": "Describe the image for readers who cannot see it."}
            )

    def was_revised(self):
        """Whether staff marked a significant change since the article was published."""
        return bool(self.revised_at and self.published_at and self.revised_at > self.published_at)

    def image_sizes(self):
        """[(url, width)] of the lead image's sizes, smallest first; [] if none can be made.

        A size is made the first time it is asked for. If the original is missing or is not
        an image, the page still answers, with the original's address alone.
        """
        if not self.image:
            return []
        sizes = {}
        try:
            for width, spec in (
                (480, self.image_480),
                (960, self.image_960),
                (1440, self.image_1440),
            ):
                sizes.setdefault(min(width, self.image_width or width), spec.url)
        except (OSError, ValueError):
            return []
        return [(url, width) for width, url in sorted(sizes.items())]

    def thumbnail_url(self):
        """The list thumbnail's address, or None."""
        if not self.image:
            return None
        try:
            return self.image_thumbnail.url
        except (OSError, ValueError):
            return None

    def reading_minutes(self):
        """About how long the body takes to read, at 200 words a minute; at least a minute."""
        return max(1, round(len(strip_tags(self.body_html).split()) / 200))

    def reference_list(self):
        """[(number, reference, ids of its citations in the body)], numbered from 1."""
        cited = citations(self.body_html)
        return [
            (number, reference, cited.get(number, []))
            for number, reference in enumerate(self.references.all(), start=1)
        ]

    def contents(self):
        """[(id, text)] of the body's sections (its <h2> headings), for a table of contents."""
        return section_headings(self.body_html)

    def get_poll(self):
        """The poll shown beside the article: its own once it has opened, else the featured one.

        A poll scheduled for later is private until it opens, wherever it is attached.
        """
        if self.poll is not None and self.poll.has_opened():
            return self.poll
        return Poll.objects.featured()

    def body_poll_slugs(self):
        """The slugs of the polls placed in the body (`[poll:<slug>]`), in order, each once."""
        return poll_slugs(self.body_html)

    def page_polls(self, scheduled_too=False):
        """(body polls, box poll): the polls the article's page shows, each with its choices.

        `body polls` is {slug: poll} for the polls placed in the body that readers may see
        (the others show nothing; `scheduled_too` adds those not yet open, for a preview).
        `box poll` is `get_poll()`'s, unless that poll is in the body: a poll appears once on
        a page (one form, one set of ids), and the box then shows nothing rather than some
        other poll that the editor did not choose.

        Without body polls this costs what the box alone does. With them, every poll of the
        page comes from one query and their choices from one more, the box's poll included.
        """
        slugs = self.body_poll_slugs()
        if not slugs:
            poll = self.get_poll()
            if poll is not None and poll is self.poll:
                prefetch_related_objects([poll], choices_with_votes())  # none if fetched
            return {}, poll
        own = self.poll if self.poll is not None and self.poll.has_opened() else None
        # The box's poll comes along: the article's own, else the featured one (get_poll()).
        box = Q(pk=own.pk) if own else Q(is_featured=True)
        polls = Poll.objects.with_choices().filter(Q(slug__in=slugs) | box)
        if not scheduled_too:
            polls = polls.started()
        polls = list(polls)
        in_body = {poll.slug: poll for poll in polls if poll.slug in slugs}
        box_poll = next(
            (p for p in polls if (p == own if own else p.is_featured) and p.has_opened()), None
        )
        if box_poll is not None and box_poll.slug in in_body:
            box_poll = None
        return in_body, box_poll

    def get_disclaimer(self):
        """The article's own disclaimer, else the site default."""
        return self.disclaimer or Disclaimer.objects.default()

    def _unique_slug(self):
        max_length = self._meta.get_field("slug").max_length
        base = slugify(self.title)[: max_length - 4].strip("-") or "article"
        slug, n = base, 2
        while Article.objects.filter(slug=slug).exclude(pk=self.pk).exists():
            slug, n = f"{base}-{n}", n + 1
        return slug

    @property
    def is_public(self):
        return (
            self.status == self.Status.PUBLISHED
            and self.published_at is not None
            and self.published_at <= timezone.now()
        )


class Reference(models.Model):
    """A work an article draws on. References are numbered in order; the body cites one as [^N]."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="references")
    order = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=300)
    publisher = models.CharField(
        max_length=200, blank=True, help_text="The journal, publisher or organisation."
    )
    url = WebURLField("link", blank=True)
    year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1000), MaxValueValidator(2999)]
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return self.article.get_absolute_url()


class BodyImage(models.Model):
    """An image uploaded for use inside article bodies, with the alt text it needs there."""

    image = models.ImageField(upload_to="body/%Y/%m/", width_field="width", height_field="height")
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    alt_text = models.CharField(
        max_length=250, help_text="What the image shows, for readers who cannot see it."
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(alt_text=""),
                name="body_image_has_alt_text",
                violation_error_message="Describe the image in its alt text.",
            ),
        ]

    def __str__(self):
        return self.alt_text

    def get_absolute_url(self):
        return self.image.url

    def markdown(self):
        """What to paste into a body to show the image: `![alt text](address)`."""
        alt = self.alt_text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"![{alt}]({self.image.url})"
