from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils import dateformat, timezone
from django.utils.html import format_html

from polls.models import Poll
from psyweb.history import HistoryAdmin
from psyweb.text import PlainTextModelForm

from .markup import split_at_polls, stray_poll_markers, what_the_sanitizer_drops
from .models import (
    Article,
    BodyImage,
    Contributor,
    CrisisNotice,
    Disclaimer,
    LegalStatement,
    Reference,
    Topic,
)


def report_what_the_sanitizer_dropped(request, body):
    """Tell the editor what saving took out of the body, rather than dropping it silently."""
    if dropped := what_the_sanitizer_drops(body):
        messages.warning(
            request,
            "Saved, but taken out of the body, since readers' pages may not carry it: "
            + "; ".join(dropped)
            + ".",
        )


def report_body_polls_not_shown(request, article):
    """Tell the editor which polls placed in the body (`[poll:<slug>]`) readers will not see.

    A warning, not an error: a draft may name a poll that a colleague is still writing, and
    a scheduled poll shows by itself once it opens. Until then readers see nothing there.
    """
    placed = Counter(slug for _, slug in split_at_polls(article.body_html) if slug)
    polls = {poll.slug: poll for poll in Poll.objects.filter(slug__in=placed)} if placed else {}
    problems = []
    for slug, times in placed.items():
        poll = polls.get(slug)
        if poll is None:
            problems.append(f"no poll has the address “{slug}” ([poll:{slug}])")
        elif not poll.has_opened():
            opens = dateformat.format(timezone.localtime(poll.opens_at), "j M Y, H:i")
            problems.append(f"[poll:{slug}] opens on {opens}; readers see nothing there until then")
        if times > 1:
            problems.append(
                f"[poll:{slug}] is written {times} times; readers see it once, at the first"
            )
    for slug in dict.fromkeys(stray_poll_markers(article.body_html)):
        problems.append(
            f"[poll:{slug}] shares its paragraph with other text (or is in a list or a quotation),"
            " so it shows as text; give it a paragraph of its own"
        )
    if problems:
        messages.warning(request, "Saved. Polls in the body: " + "; ".join(problems) + ".")


class ArticleAdminForm(PlainTextModelForm):
    """The article, plus the editor's word on whether this edit changes what it says."""

    # A browser cannot keep a chosen file when a form comes back with an error.
    image_not_kept = "The form has an error, so the image you chose was not kept: choose it again."

    def full_clean(self):
        super().full_clean()
        if self._errors and self.files.get("image") and "image" not in self._errors:
            self.add_error("image", self.image_not_kept)

    significant_update = forms.BooleanField(
        label="This edit changes what the article says",
        required=False,
        help_text="Readers then see “Updated” with today's date. Leave it unticked for typo "
        "fixes and small corrections.",
    )


class PublicationFilter(admin.SimpleListFilter):
    """Draft, scheduled or published, with how many of each."""

    title = "publication"
    parameter_name = "publication"

    def lookups(self, request, model_admin):
        now = timezone.now()
        articles = model_admin.get_queryset(request)
        counts = {
            name: articles.filter(condition).count() for name, condition in self.conditions(now)
        }
        return [
            ("draft", f"Draft ({counts['draft']})"),
            ("scheduled", f"Scheduled ({counts['scheduled']})"),
            ("published", f"Published ({counts['published']})"),
        ]

    @staticmethod
    def conditions(now):
        published = Q(status=Article.Status.PUBLISHED)
        return [
            ("draft", Q(status=Article.Status.DRAFT)),
            ("scheduled", published & Q(published_at__gt=now)),
            ("published", published & Q(published_at__lte=now)),
        ]

    def queryset(self, request, queryset):
        conditions = dict(self.conditions(timezone.now()))
        if self.value() in conditions:
            return queryset.filter(conditions[self.value()])
        return queryset


IMAGE_FIELDS = [
    *("image", "image_alt", "image_caption"),
    *("photo_credit", "photo_credit_url", "photo_licence"),
]


class ReferenceInline(admin.TabularInline):
    """The article's references, numbered in this order; the body cites the second as [^2]."""

    model = Reference
    fields = ["order", "title", "publisher", "url", "year", "note"]
    extra = 1
    view_on_site = False
    verbose_name_plural = "References (cite them in the body as [^1], [^2] …)"


@admin.register(Article)
class ArticleAdmin(HistoryAdmin):
    form = ArticleAdminForm  # text pasted from Word loses its control characters
    list_display = ["title", "publication", "topic", "author", "updated_at"]
    list_filter = [PublicationFilter, "topic", "author"]
    search_fields = ["title", "summary", "body", "references__title"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    list_select_related = ["topic", "author"]
    autocomplete_fields = ["topic", "poll", "author", "medical_reviewer"]
    readonly_fields = ["preview", "revised_at", "created_at", "updated_at"]
    actions = ["publish", "unpublish"]
    inlines = [ReferenceInline]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "body", "topic"]}),
        (
            "Publishing",
            {"fields": ["status", "published_at", "significant_update", "revised_at", "preview"]},
        ),
        ("People", {"fields": ["author", "medical_reviewer", "last_reviewed"]}),
        (
            "Image",
            {"fields": IMAGE_FIELDS},
        ),
        ("Disclaimer", {"fields": ["disclaimer"]}),
        (
            "Poll",
            {
                "fields": ["poll"],
                "description": "The box beside the article. To place a poll inside the body, "
                "write <code>[poll:its-slug]</code> as a paragraph of its own; a poll is shown "
                "once a page, so the box stays empty when its poll is in the body.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="Publication", ordering="published_at")
    def publication(self, obj):
        if obj.status == Article.Status.DRAFT:
            return "Draft"
        when = dateformat.format(timezone.localtime(obj.published_at), "j M Y, H:i")
        return f"Published {when}" if obj.is_public else f"Scheduled for {when}"

    @admin.display(description="Preview")
    def preview(self, obj):
        if not obj.pk:
            return "Save the article to preview it."
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Open the article as readers will see '
            "it</a> (a draft or a scheduled article too: only editors can open it)",
            obj.get_absolute_url(),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if form.cleaned_data.get("significant_update"):
            obj.revised_at = timezone.now()
        super().save_model(request, obj, form, change)
        report_what_the_sanitizer_dropped(request, obj.body)
        report_body_polls_not_shown(request, obj)

    @admin.action(description="Publish the selected articles", permissions=["change"])
    def publish(self, request, queryset):
        # One save each, not an UPDATE of them all: each publication is kept in the history.
        now = timezone.now()
        articles = list(queryset.exclude(status=Article.Status.PUBLISHED))
        for article in articles:
            article.status = Article.Status.PUBLISHED
            article.published_at = article.published_at or now
            article.save()
        self.message_user(
            request,
            f"Published {len(articles)} article(s). Those with a future date stay scheduled.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Unpublish the selected articles (back to draft)", permissions=["change"]
    )
    def unpublish(self, request, queryset):
        articles = list(queryset.exclude(status=Article.Status.DRAFT))
        for article in articles:
            article.status = Article.Status.DRAFT
            article.save()
        self.message_user(request, f"Unpublished {len(articles)} article(s).", messages.SUCCESS)


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = PlainTextModelForm
    list_display = ["name", "slug", "is_sensitive"]
    list_filter = ["is_sensitive"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Contributor)
class ContributorAdmin(HistoryAdmin):
    form = PlainTextModelForm
    list_display = ["name", "credentials"]
    search_fields = ["name", "credentials"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(CrisisNotice)
class CrisisNoticeAdmin(HistoryAdmin):
    form = PlainTextModelForm
    list_display = ["text", "helpline_name", "helpline_number"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not CrisisNotice.objects.exists()


@admin.register(Disclaimer)
class DisclaimerAdmin(HistoryAdmin):
    form = PlainTextModelForm
    list_display = ["name", "is_default"]
    search_fields = ["name", "text"]


@admin.register(LegalStatement)
class LegalStatementAdmin(HistoryAdmin):
    form = PlainTextModelForm
    list_display = ["title", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not LegalStatement.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        report_what_the_sanitizer_dropped(request, obj.body)


@admin.register(BodyImage)
class BodyImageAdmin(admin.ModelAdmin):
    """Images for article bodies: upload one, then paste its Markdown into the body."""

    form = PlainTextModelForm
    list_display = ["alt_text", "markdown", "uploaded_at"]
    search_fields = ["alt_text"]
    fields = ["image", "alt_text", "markdown"]
    readonly_fields = ["markdown"]

    @admin.display(description="Paste into a body")
    def markdown(self, obj):
        return format_html("<code>{}</code>", obj.markdown()) if obj.pk else "(after saving)"
