import csv

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import slugify

from psyweb.history import HistoryAdmin
from psyweb.text import PlainTextModelForm

from . import services, voters
from .charts import ballots_chart
from .models import Choice, Poll, Vote
from .results import results_data


class ChoiceInline(admin.TabularInline):
    model = Choice
    form = PlainTextModelForm  # text pasted from Word loses its control characters
    fields = ["text", "order", "votes"]
    readonly_fields = ["votes"]  # counts are written by polls.services only
    view_on_site = False  # each answer would link to the same poll page
    extra = 3
    min_num = 2

    def get_formset(self, request, obj=None, **kwargs):
        return super().get_formset(request, obj, validate_min=True, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).with_votes()

    @admin.display(description="Votes")
    def votes(self, choice):
        return choice.votes if choice.pk else 0


def save_answers(formset):
    """Save the answers of a poll's form, writing back only what the form edits.

    A count changes with every vote: saving a whole row would write back the count read at the
    start of the editor's request, and lose the votes counted meanwhile.
    """
    answers = formset.save(commit=False)
    for answer in formset.deleted_objects:
        answer.delete()
    for answer in answers:
        if answer._state.adding:
            answer.save()
        else:
            answer.save(update_fields=["text", "order"])


class PollForm(PlainTextModelForm):
    def clean_max_choices(self):
        max_choices = self.cleaned_data["max_choices"]
        poll = self.instance
        if poll.pk and max_choices != poll.max_choices and poll.ballots.exists():
            raise forms.ValidationError(
                "Readers have voted in this poll, so the number of answers each may choose "
                "can no longer change: the results would mix ballots of both kinds."
            )
        return max_choices


@admin.register(Poll)
class PollAdmin(HistoryAdmin):
    form = PollForm
    list_display = [
        "question",
        "opens_at",
        "closes_at",
        "results_visibility",
        "is_featured",
        "vote_total",
    ]
    list_filter = ["is_featured", "results_visibility", "opens_at"]
    search_fields = ["question"]
    date_hierarchy = "opens_at"
    prepopulated_fields = {"slug": ["question"]}
    readonly_fields = ["results", "ballots_per_day"]
    inlines = [ChoiceInline]
    actions = ["feature"]
    fieldsets = [
        (None, {"fields": ["question", "slug"]}),
        (
            "When and how",
            {
                "fields": [
                    "opens_at",
                    "closes_at",
                    "max_choices",
                    "results_visibility",
                    "is_featured",
                ]
            },
        ),
        ("Results", {"fields": ["results", "ballots_per_day"]}),
    ]

    def save_formset(self, request, form, formset, change):
        if formset.model is Choice:
            save_answers(formset)
        else:
            super().save_formset(request, form, formset, change)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        """What each version of the poll changed, with its answers' texts and order.

        Answers are saved with the poll's form, after the poll: each change to an answer is
        shown with the poll's version just before it. Their vote counts are not kept.
        """
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        versions = list(historical_records)  # newest first, one page of them
        if not versions:
            return
        # Answers saved after the newest version on this page belong to a newer page.
        until = (
            Poll.history.filter(id=versions[0].id, history_date__gt=versions[0].history_date)
            .order_by("history_date")
            .values_list("history_date", flat=True)
            .first()
        )
        before = {}  # each answer's (text, order) in its previous version
        for answer in Choice.history.filter(poll_id=versions[0].id).order_by(
            "history_date", "history_id"
        ):
            was, before[answer.id] = before.get(answer.id), (answer.text, answer.order)
            version = next((v for v in versions if v.history_date <= answer.history_date), None)
            if version is None or (until is not None and answer.history_date >= until):
                continue
            if answer.history_type == "-":
                changes = [{"field": "Answer", "old": answer.text, "new": "(removed)"}]
            elif was is None:
                changes = [{"field": "Answer", "old": "(none)", "new": answer.text}]
            else:
                changes = [
                    {"field": field, "old": old, "new": new}
                    for field, old, new in [
                        ("Answer", was[0], answer.text),
                        (f"Order of “{answer.text}”", was[1], answer.order),
                    ]
                    if old != new
                ]
            version.history_delta_changes = [
                *getattr(version, "history_delta_changes", []),
                *changes,
            ]

    def get_queryset(self, request):
        # An aggregate drops Meta.ordering, so it is given again (the autocomplete pages).
        return super().get_queryset(request).with_voter_totals().order_by(*Poll._meta.ordering)

    @admin.display(description="Voters", ordering="total_votes")
    def vote_total(self, poll):
        return poll.total_votes

    def get_urls(self):
        return [
            path(
                "<int:object_id>/results.csv",
                self.admin_site.admin_view(self.results_csv),
                name="polls_poll_results_csv",
            ),
            path(
                "<int:object_id>/results.json",
                self.admin_site.admin_view(self.results_json),
                name="polls_poll_results_json",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Results")
    def results(self, poll):
        if not poll.pk:
            return "Results appear here once the poll is saved."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}%</td></tr>",
            ((choice.text, choice.votes, percent) for choice, percent in poll.results()),
        )
        if poll.allows_several:
            totals = format_html(
                "<p><strong>Voters: {} · Answers chosen: {}</strong></p>"
                "<p>Each share is the share of voters who chose that answer.</p>",
                poll.total_votes,
                poll.answer_total,
            )
        else:
            totals = format_html("<p><strong>Total votes: {}</strong></p>", poll.total_votes)
        return format_html(
            '<table><thead><tr><th scope="col">Answer</th><th scope="col">Votes</th>'
            '<th scope="col">Share</th></tr></thead><tbody>{}</tbody></table>{}'
            '<p>Download the results as <a href="{}">CSV</a> or <a href="{}">JSON</a> · '
            '<a href="{}">Public results page</a></p>',
            rows,
            totals,
            reverse("admin:polls_poll_results_csv", args=[poll.pk]),
            reverse("admin:polls_poll_results_json", args=[poll.pk]),
            reverse("polls:results", args=[poll.slug]),
        )

    def results_csv(self, request, object_id):
        poll = get_object_or_404(Poll.objects.with_choices(), pk=object_id)
        if not self.has_view_permission(request, poll):
            return HttpResponse(status=403)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        filename = f"poll-{slugify(poll.slug)}-results.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        rows = [["answer", "votes", "percent"]]
        rows += [[choice.text, choice.votes, percent] for choice, percent in poll.results()]
        if poll.allows_several:  # shares of voters: they need not add up to 100
            rows.append(["Voters", poll.total_votes, ""])
            rows.append(["Answers chosen", poll.answer_total, ""])
        else:
            rows.append(["Total votes", poll.total_votes, 100 if poll.total_votes else 0])
        writer = csv.writer(response, quoting=csv.QUOTE_ALL)  # every cell quoted: see _csv_cell
        writer.writerows([_csv_cell(value) for value in row] for row in rows)
        return response

    def results_json(self, request, object_id):
        """The full results for staff, whatever the public may see of them."""
        poll = get_object_or_404(Poll.objects.with_choices(), pk=object_id)
        if not self.has_view_permission(request, poll):
            return HttpResponse(status=403)
        response = JsonResponse(
            {"slug": poll.slug, **results_data(poll, visible=True)},
            json_dumps_params={"ensure_ascii": False},
        )
        filename = f"poll-{slugify(poll.slug)}-results.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.display(description="Ballots per day")
    def ballots_per_day(self, poll):
        if not poll.pk:
            return "The chart appears here once the poll is saved."
        return ballots_chart(poll.ballots_per_day())

    @admin.action(description="Feature the selected poll site-wide", permissions=["change"])
    def feature(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one poll to feature.", messages.ERROR)
            return
        with transaction.atomic():  # saved one by one, so the history shows the move
            for previous in Poll.objects.filter(is_featured=True).exclude(pk=queryset.get().pk):
                previous.is_featured = False
                previous.save(update_fields=["is_featured"])
            featured = queryset.get()
            featured.is_featured = True
            featured.save(update_fields=["is_featured"])
        self.message_user(request, f"“{queryset.get()}” is now the featured poll.")


# What makes a spreadsheet take a cell for a formula (OWASP, "CSV Injection"), and the
# full-width forms, which some spreadsheets in East Asian locales take the same way.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def _csv_cell(value):
    """A CSV cell that no spreadsheet runs as a formula (CSV injection), whatever its text.

    Quoting alone does not do it: Excel and LibreOffice read the quotes away and still evaluate
    "=1+1". So a cell that starts like a formula, also after spaces (LibreOffice can be told to
    trim them), gets a leading ' as OWASP advises, which spreadsheets take as "this is text".
    A formula further in is kept inside its cell by quoting every cell (QUOTE_ALL): where the
    list separator is ";" or a tab, a spreadsheet would split an unquoted `a;=1+1` into "a"
    and a formula, but it never splits inside quotes.
    """
    text = str(value)
    if text.startswith(FORMULA_STARTS) or text.lstrip().startswith(FORMULA_STARTS):
        return f"'{text}"
    return text


class BallotForm(forms.ModelForm):
    """A ballot entered by staff: the poll, and its answer or answers."""

    answers = forms.ModelMultipleChoiceField(
        queryset=Choice.objects.select_related("poll").order_by("poll", "order"),
        widget=forms.CheckboxSelectMultiple,
        help_text="One answer, or up to the poll's limit in a “check all that apply” poll.",
    )

    class Meta:
        model = Vote
        fields = ["poll"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Name each answer with its question: many polls share answers like "Yes".
        self.fields["answers"].label_from_instance = lambda choice: (
            f"{choice.poll.question} — {choice.text}"
        )

    def clean(self):
        cleaned = super().clean()
        poll, answers = cleaned.get("poll"), cleaned.get("answers")
        if poll is None or not answers:
            return cleaned
        if any(answer.poll_id != poll.pk for answer in answers):
            self.add_error("answers", "That answer belongs to another poll.")
        elif len(answers) > poll.max_choices:
            self.add_error("answers", services.TooManyChoices(poll.max_choices).message)
        if not poll.is_open():
            self.add_error("poll", "This poll is not open, so it takes no ballots.")
        return cleaned


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    """Ballots. Staff may enter one (a paper ballot, say) or delete some; counts follow."""

    form = BallotForm
    list_display = ["poll", "answers"]
    list_filter = ["poll"]
    list_select_related = ["poll"]
    autocomplete_fields = ["poll"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("selections__choice")

    def get_fields(self, request, obj=None):
        return ["poll", "answers"]

    def get_readonly_fields(self, request, obj=None):
        return ["poll", "answers"] if obj else []

    @admin.display(description="Answers")
    def answers(self, ballot):
        return ", ".join(selection.choice.text for selection in ballot.selections.all())

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # A ballot entered by staff is counted like any other, under a random key of its own.
        obj.pk = services.record_vote(
            poll=obj.poll,
            choice_ids=[answer.pk for answer in form.cleaned_data["answers"]],
            voter_key=voters.key_for_token(obj.poll, voters.new_voter_token()),
        ).pk

    def save_related(self, request, form, formsets, change):
        pass  # record_vote wrote the answers

    def delete_model(self, request, obj):
        services.delete_votes(Vote.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.delete_votes(queryset)
