import csv
import io
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from polls.models import Choice, Poll, Vote
from polls.services import record_vote
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted_poll(poll):
    first, second, _ = poll.choices.all()
    for n, choice in enumerate([first, first, second]):
        record_vote(poll=poll, choice_ids=[choice.pk], voter_key=f"k{n}")
    return poll


@pytest.mark.parametrize("model", [Poll, Vote])
def test_staff_see_the_changelist_and_add_form(admin_client, voted_poll, model):
    name = model._meta.model_name
    assert admin_client.get(reverse(f"admin:polls_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:polls_{name}_add")).status_code == 200


@pytest.mark.parametrize("model", [Poll, Vote])
def test_anonymous_users_are_sent_to_log_in(client, model):
    response = client.get(reverse(f"admin:polls_{model._meta.model_name}_changelist"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_poll_list_shows_each_polls_total(admin_client, voted_poll):
    response = admin_client.get(reverse("admin:polls_poll_changelist"))
    assert '<td class="field-vote_total">3</td>' in response.text


def test_poll_change_page_shows_results_and_read_only_counts(admin_client, voted_poll):
    response = admin_client.get(reverse("admin:polls_poll_change", args=[voted_poll.pk]))
    assert response.status_code == HTTPStatus.OK
    assert "<td>Yes, currently</td><td>2</td><td>67%</td>" in response.text
    assert "Total votes: 3" in response.text
    assert 'name="choices-0-votes"' not in response.text  # counts cannot be typed
    assert reverse("admin:polls_poll_results_csv", args=[voted_poll.pk]) in response.text


def test_staff_cannot_change_counts_by_posting_them(admin_client, poll):
    first, second, third = poll.choices.all()
    data = {
        "question": poll.question,
        "slug": poll.slug,
        "opens_at_0": "2026-01-01",
        "opens_at_1": "00:00:00",
        "results_visibility": "always",
        "max_choices": "1",
        "choices-TOTAL_FORMS": "3",
        "choices-INITIAL_FORMS": "3",
        "choices-MIN_NUM_FORMS": "0",
        "choices-MAX_NUM_FORMS": "1000",
    }
    for i, choice in enumerate([first, second, third]):
        data |= {
            f"choices-{i}-id": choice.pk,
            f"choices-{i}-poll": poll.pk,
            f"choices-{i}-text": choice.text,
            f"choices-{i}-order": choice.order,
            f"choices-{i}-votes": 999,
            f"choices-{i}-folded_votes": 999,
        }
    response = admin_client.post(reverse("admin:polls_poll_change", args=[poll.pk]), data)
    assert response.status_code == HTTPStatus.FOUND
    assert set(Choice.objects.with_votes().values_list("votes", flat=True)) == {0}


def add_poll_form(question, slug, answers, visibility="always"):
    """What the admin's "Add poll" form posts: the poll, and one inline row per answer."""
    data = {
        "question": question,
        "slug": slug,
        "opens_at_0": "2026-01-01",
        "opens_at_1": "00:00:00",
        "results_visibility": visibility,
        "max_choices": "1",
        "choices-TOTAL_FORMS": str(len(answers)),
        "choices-INITIAL_FORMS": "0",
        "choices-MIN_NUM_FORMS": "0",
        "choices-MAX_NUM_FORMS": "1000",
    }
    for i, answer in enumerate(answers):
        data |= {f"choices-{i}-text": answer, f"choices-{i}-order": str(i + 1)}
    return data


def test_staff_create_a_poll_with_choices_inline(admin_client):
    data = add_poll_form("Do you sleep well?", "sleep", ["Yes", "No"], visibility="after_vote")
    response = admin_client.post(reverse("admin:polls_poll_add"), data)
    assert response.status_code == HTTPStatus.FOUND
    poll = Poll.objects.get(slug="sleep")
    assert [c.text for c in poll.choices.all()] == ["Yes", "No"]


def test_a_question_and_answers_pasted_with_control_characters_are_saved_without_them(
    admin_client,
):
    # As from Word: a vertical tab for a line break, a form feed, a NUL, other control characters.
    data = add_poll_form("Do you\x0bsleep well?\x00", "sleep", ["Yes\x01\x7f", "Not\x0creally\x9f"])
    response = admin_client.post(reverse("admin:polls_poll_add"), data)
    assert response.status_code == HTTPStatus.FOUND
    poll = Poll.objects.get(slug="sleep")
    assert poll.question == "Do you sleep well?"
    assert [c.text for c in poll.choices.all()] == ["Yes", "Not really"]


def test_results_csv_export(admin_client, voted_poll):
    response = admin_client.get(reverse("admin:polls_poll_results_csv", args=[voted_poll.pk]))
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["answer", "votes", "percent"],
        ["Yes, currently", "2", "67"],
        ["Yes, in the past", "1", "33"],
        ["No, never", "0", "0"],
        ["Total votes", "3", "100"],
    ]


def test_results_csv_defuses_spreadsheet_formulas(admin_client, make_poll):
    poll = make_poll(choices=['=HYPERLINK("http://evil")', "Fine"])
    response = admin_client.get(reverse("admin:polls_poll_results_csv", args=[poll.pk]))
    assert "'=HYPERLINK" in response.content.decode()


def results_csv(admin_client, poll):
    response = admin_client.get(reverse("admin:polls_poll_results_csv", args=[poll.pk]))
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


# How a spreadsheet knows a formula (OWASP): by these, also in their full-width forms.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


@pytest.mark.parametrize(
    "answer",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1", "＝1+1", "＋1", "－1", "＠SUM(A1)", " =1"],
)
def test_an_answer_that_starts_like_a_formula_is_exported_as_text(admin_client, make_poll, answer):
    poll = make_poll(choices=[answer, "Fine"])
    rows = list(csv.reader(io.StringIO(results_csv(admin_client, poll))))
    assert rows[1][0] == f"'{answer}"  # the ' makes spreadsheets take it as text
    assert rows[2][0] == "Fine"


def test_every_cell_of_the_results_csv_is_quoted(admin_client, make_poll):
    poll = make_poll(choices=["=1+1", "Fine"])
    lines = results_csv(admin_client, poll).splitlines()
    assert lines[:3] == ['"answer","votes","percent"', '"\'=1+1","0","0"', '"Fine","0","0"']


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_no_cell_of_the_results_csv_runs_as_a_formula_whatever_the_list_separator(
    admin_client, make_poll, separator
):
    # Where the list separator is ";" or a tab, spreadsheets split lines there, and read
    # quotes as Python's csv module does.
    answers = ["a;=1+1", "b\t=2+2", "c,=3+3", 'd";=4+4', "e\n=5+5", "=6+6"]
    poll = make_poll(choices=answers)
    text = results_csv(admin_client, poll)
    cells = [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row]
    assert cells
    assert [cell for cell in cells if cell.lstrip().startswith(FORMULA_STARTS)] == []


def test_results_csv_needs_staff(client, poll):
    response = client.get(reverse("admin:polls_poll_results_csv", args=[poll.pk]))
    assert response.status_code == HTTPStatus.FOUND


def test_feature_action_moves_the_feature_to_one_poll(admin_client, make_poll):
    old = make_poll(is_featured=True)
    new = make_poll()
    admin_client.post(
        reverse("admin:polls_poll_changelist"),
        {"action": "feature", "_selected_action": [new.pk]},
    )
    assert list(Poll.objects.filter(is_featured=True)) == [new]
    old.refresh_from_db()
    assert not old.is_featured


def test_staff_attach_a_poll_to_an_article(admin_client, make_article, poll):
    article = make_article()
    response = admin_client.get(reverse("admin:articles_article_change", args=[article.pk]))
    assert 'name="poll"' in response.text


def test_a_ballot_entered_in_the_admin_is_counted_by_the_shared_function(admin_client, poll):
    choice = poll.choices.all()[2]
    response = admin_client.post(
        reverse("admin:polls_vote_add"), {"poll": poll.pk, "answers": [choice.pk]}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert Choice.objects.with_votes().get(pk=choice.pk).votes == 1
    assert list(Vote.objects.get().choices.all()) == [choice]


def test_a_ballot_for_another_polls_answer_is_refused_in_the_admin(admin_client, make_poll):
    poll, other = make_poll(), make_poll()
    response = admin_client.post(
        reverse("admin:polls_vote_add"), {"poll": poll.pk, "answers": [other.choices.first().pk]}
    )
    assert response.status_code == HTTPStatus.OK
    assert "That answer belongs to another poll." in response.text
    assert not Vote.objects.exists()


def test_deleting_ballots_in_the_admin_takes_them_off_the_counts(admin_client, voted_poll):
    ballots = list(Vote.objects.values_list("pk", flat=True)[:2])
    admin_client.post(
        reverse("admin:polls_vote_changelist"),
        {"action": "delete_selected", "_selected_action": ballots, "post": "yes"},
    )
    assert Vote.objects.count() == 1
    for choice in Choice.objects.with_votes():
        assert choice.votes == Vote.objects.filter(choices=choice).count()


def test_recount_votes_command_reports_and_repairs(voted_poll):
    Choice.objects.filter(text="No, never").update(folded_votes=4)
    out = io.StringIO()
    call_command("recount_votes", stdout=out)
    assert "“No, never”: count 4, ballots 0 (-4), repaired" in out.getvalue()
    assert Choice.objects.with_votes().get(text="No, never").votes == 0
    out = io.StringIO()
    call_command("recount_votes", stdout=out)
    assert "Every count matches its ballots." in out.getvalue()


def test_recount_votes_check_only_reports_and_fails(voted_poll):
    from django.core.management.base import CommandError

    Choice.objects.filter(text="No, never").update(folded_votes=4)
    with pytest.raises(CommandError, match="1 count"):
        call_command("recount_votes", "--check", stdout=io.StringIO())
    assert Choice.objects.with_votes().get(text="No, never").votes == 4


def test_recount_votes_names_an_unknown_poll(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No poll with slug: nope"):
        call_command("recount_votes", "nope")


def test_a_poll_needs_at_least_two_answers(admin_client):
    data = add_poll_form("Empty?", "empty", ["Only one"])
    response = admin_client.post(reverse("admin:polls_poll_add"), data)
    assert response.status_code == HTTPStatus.OK
    assert not Poll.objects.filter(slug="empty").exists()


def test_results_csv_of_an_unknown_or_malformed_id_is_not_a_server_error(admin_client):
    response = admin_client.get("/admin/polls/poll/abc/results.csv", follow=True)
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert admin_client.get("/admin/polls/poll/999999/results.csv").status_code == 404


def test_poll_autocomplete_for_articles_is_ordered(admin_client, make_poll):
    for _ in range(3):
        make_poll()
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "articles", "model_name": "article", "field_name": "poll"},
    )
    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["results"]) == 3


def test_the_ballot_form_names_each_answer_with_its_question(admin_client, make_poll):
    make_poll(question="Do you sleep well?", choices=["Yes", "No"])
    response = admin_client.get(reverse("admin:polls_vote_add"))
    assert "Do you sleep well? — Yes" in response.text


def test_editing_an_answer_never_writes_back_its_vote_count(admin_client, poll):
    url = reverse("admin:polls_poll_change", args=[poll.pk])
    data = form_data(admin_client.get(url), "poll_form")
    answer = poll.choices.first()
    prefix = next(k for k, v in data.items() if k.endswith("-id") and str(v) == str(answer.pk))
    data[prefix.replace("-id", "-text")] = "Yes, at the moment"

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(url, data)

    assert response.status_code == HTTPStatus.FOUND
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "polls_choice"')]
    assert updates, "the answer was not saved"
    assert all('"votes"' not in sql for sql in updates)


def test_answers_in_the_poll_form_carry_no_view_on_site_link_each(admin_client, poll):
    response = admin_client.get(reverse("admin:polls_poll_change", args=[poll.pk]))
    assert response.text.count("View on site") <= 1  # the poll's own button only


def test_staff_export_the_full_results_as_json(admin_client, make_poll):
    poll = make_poll(results_visibility="never")
    record_vote(poll=poll, choice_ids=[poll.choices.first().pk], voter_key="k1")

    response = admin_client.get(reverse("admin:polls_poll_results_json", args=[poll.pk]))

    assert response.status_code == HTTPStatus.OK
    assert (
        response["Content-Disposition"] == f'attachment; filename="poll-{poll.slug}-results.json"'
    )
    data = response.json()
    assert data["slug"] == poll.slug
    assert data["total_votes"] == 1
    assert [choice["votes"] for choice in data["choices"]] == [1, 0, 0]


def test_the_json_export_needs_staff(client, poll):
    response = client.get(reverse("admin:polls_poll_results_json", args=[poll.pk]))
    assert response.status_code == HTTPStatus.FOUND  # to the admin's sign-in
