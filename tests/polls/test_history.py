"""A poll's history: its question and answers as editors wrote them, never its readers' votes."""

import importlib
from http import HTTPStatus
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from simple_history.models import HistoricalChanges

from polls.admin import PollAdmin
from polls.models import Choice, Poll, Vote
from tests.admin_forms import form_data, page_text

pytestmark = pytest.mark.django_db

history_migration = importlib.import_module("polls.migrations.0003_history")


def change_url(poll):
    return reverse("admin:polls_poll_change", args=[poll.pk])


def history_url(poll):
    return reverse("admin:polls_poll_history", args=[poll.pk])


def edit(client, poll, **changes):
    """Change the poll in its admin form (answers included), as an editor does."""
    data = form_data(client.get(change_url(poll)), "poll_form")
    response = client.post(change_url(poll), {**data, **changes})
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].errors


def versions():
    return Poll.history.count(), Choice.history.count()


def test_only_what_editors_write_has_a_history():
    histories = {m._meta.label for m in apps.get_models() if issubclass(m, HistoricalChanges)}
    assert histories == {
        "articles.HistoricalArticle",
        "articles.HistoricalContributor",
        "articles.HistoricalCrisisNotice",
        "articles.HistoricalDisclaimer",
        "articles.HistoricalLegalStatement",
        "polls.HistoricalPoll",
        "polls.HistoricalChoice",
    }  # no ballots (Vote), no per-address counts (AddressVoteCount)
    kept = {field.name for field in Choice.history.model._meta.fields}
    assert {"text", "order"} <= kept
    assert "votes" not in kept


def test_votes_write_no_version(admin_client, poll):
    first, second, third = poll.choices.all()
    before = versions()

    for _ in range(3):  # three readers, each with a browser of their own
        response = Client().post(reverse("polls:vote", args=[poll.slug]), {"choice": first.pk})
        assert response.status_code == HTTPStatus.SEE_OTHER
    # Staff enter a paper ballot, delete one, and a drifted count is repaired.
    admin_client.post(reverse("admin:polls_vote_add"), {"poll": poll.pk, "answers": [second.pk]})
    ballot = Vote.objects.filter(choices=first).first()
    admin_client.post(reverse("admin:polls_vote_delete", args=[ballot.pk]), {"post": "yes"})
    Choice.objects.filter(pk=third.pk).update(folded_votes=5)
    call_command("recount_votes", stdout=StringIO())

    assert list(poll.choices.with_votes().values_list("votes", flat=True)) == [2, 1, 0]
    assert versions() == before


def test_an_edit_in_the_poll_form_is_a_version_naming_the_editor(admin_client, admin_user, poll):
    first = poll.choices.first()
    before = versions()

    edit(
        admin_client,
        poll,
        question="Do you take anti-depressants?",
        **{"choices-0-text": "Yes, at the moment"},
    )

    latest = Poll.history.latest()
    assert (latest.question, latest.history_user) == ("Do you take anti-depressants?", admin_user)
    # The answer is saved by the form's inline, not by the poll's admin: the editor is known
    # from the request (simple-history's HistoryRequestMiddleware).
    answer = first.history.latest()
    assert (answer.text, answer.history_type, answer.history_user) == (
        "Yes, at the moment",
        "~",
        admin_user,
    )
    assert versions() == (before[0] + 1, before[1] + 1)  # the unchanged answers: no version


def test_the_history_page_shows_what_each_edit_changed_in_the_question_and_answers(
    admin_client, poll
):
    edit(
        admin_client,
        poll,
        **{
            "choices-0-text": "Yes, at the moment",
            "choices-1-order": "9",
            "choices-2-DELETE": "on",
            "choices-3-text": "I <b>would</b> rather not say",
            "choices-3-order": "4",
        },
    )
    edit(admin_client, poll, question="Do you take anti-depressants?")

    response = admin_client.get(history_url(poll))

    assert response.status_code == HTTPStatus.OK
    text = page_text(response)
    question = text.index(
        "Question: Are you taking anti-depressants? → Do you take anti-depressants?"
    )
    answers = [
        "Answer: Yes, currently → Yes, at the moment",
        "Order of “Yes, in the past”: 2 → 9",
        "Answer: No, never → (removed)",
        "Answer: (none) → I <b>would</b> rather not say",
    ]
    created = text.index("Answer: (none) → Yes, currently")  # the poll as first made
    for change in answers:  # listed with the first edit, between the second and the creation
        assert question < text.index(change) < created
    assert "I &lt;b&gt;would&lt;/b&gt; rather not say" in response.text


def test_each_page_of_the_history_shows_what_its_own_versions_changed(
    admin_client, poll, monkeypatch
):
    monkeypatch.setattr(PollAdmin, "history_list_per_page", 1)
    edit(admin_client, poll, question="Do you take anti-depressants?")
    edit(admin_client, poll, **{"choices-0-text": "Yes, at the moment"})
    change = "Answer: Yes, currently → Yes, at the moment"

    newest = page_text(admin_client.get(history_url(poll)))
    older = page_text(admin_client.get(history_url(poll), {"p": 2}))

    assert change in newest
    assert "Question: Are you taking anti-depressants? → Do you take" in older
    assert change not in older


def test_restoring_a_version_brings_its_question_back_and_keeps_the_votes(
    admin_client, admin_user, poll
):
    first = poll.history.get()
    edit(admin_client, poll, question="Do you take anti-depressants?")
    choice = poll.choices.first()
    Client().post(reverse("polls:vote", args=[poll.slug]), {"choice": choice.pk})
    url = reverse("admin:polls_poll_simple_history", args=[poll.pk, first.history_id])

    response = admin_client.post(url, form_data(admin_client.get(url), "historicalpoll_form"))

    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].errors
    poll.refresh_from_db()
    assert poll.question == "Are you taking anti-depressants?"
    latest = poll.history.latest()
    assert (latest.history_type, latest.history_user) == ("~", admin_user)
    assert latest.history_change_reason.startswith("Restored the version of ")
    assert poll.history.count() == 3
    assert list(poll.choices.with_votes().values_list("votes", flat=True)) == [1, 0, 0]


@pytest.mark.parametrize("codename", [None, "view_poll"])
def test_the_poll_history_needs_the_permission_to_change(client, poll, codename):
    user = get_user_model().objects.create_user("viewer", password="a-long-password")
    user.is_staff = True
    user.save()
    if codename:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    version = poll.history.get()
    version_url = reverse("admin:polls_poll_simple_history", args=[poll.pk, version.history_id])

    assert client.get(history_url(poll)).status_code == HTTPStatus.FORBIDDEN
    assert client.get(version_url).status_code == HTTPStatus.FORBIDDEN
    assert client.post(version_url, {"question": "Defaced"}).status_code == HTTPStatus.FORBIDDEN
    poll.refresh_from_db()
    assert poll.question == "Are you taking anti-depressants?"


def test_polls_written_before_the_history_began_get_a_first_version(poll):
    Poll.history.all().delete()
    Choice.history.all().delete()

    history_migration.record_what_exists(apps, schema_editor=None)

    assert poll.history.get().question == "Are you taking anti-depressants?"
    answers = Choice.history.filter(poll=poll).order_by("order")
    assert [answer.text for answer in answers] == [
        "Yes, currently",
        "Yes, in the past",
        "No, never",
    ]
    assert {(v.history_type, v.history_user) for v in [poll.history.get(), *answers]} == {
        ("+", None)
    }
