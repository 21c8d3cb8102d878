"""An automated accessibility audit (axe-core, WCAG 2.x A and AA rules) of every kind of page."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def violations(page):
    results = Axe().run(page, options=WCAG_AA)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/articles/rejection-while-depressed/",
        "/topics/depression/",
        "/search/?q=depression",
        "/legal/",
        "/privacy/",
        "/polls/",
        "/polls/antidepressants/",
        "/polls/antidepressants/results/",
        "/no-such-page/",
    ],
)
def test_reader_pages_pass_an_accessibility_audit(demo, page, path):
    page.goto(path)
    assert violations(page) == []


def test_the_form_with_an_error_and_the_results_after_voting_pass_the_audit(demo, page):
    page.goto("/polls/antidepressants/")
    page.get_by_role("button", name="Vote").click()
    page.get_by_role("alert").wait_for()
    assert violations(page) == []
    page.get_by_label("No, never").check()
    page.get_by_role("button", name="Vote").click()
    page.get_by_text("Thank you for voting.").wait_for()
    assert violations(page) == []


def test_the_staff_article_preview_passes_the_audit(demo, page, live_server):
    get_user_model().objects.create_superuser("editor", "editor@example.org", "a-long-password")
    sign_in(page, "editor", "a-long-password")
    demo.status = demo.Status.DRAFT
    demo.save()
    page.goto(demo.get_absolute_url())
    page.get_by_text("This article is a draft.").wait_for()
    assert violations(page) == []


def test_the_audit_does_find_problems_on_this_sites_pages(demo, page):
    # Guards the audit itself: under the site's Content-Security-Policy, axe must still run.
    page.goto("/polls/antidepressants/")
    page.evaluate("document.querySelector('label').remove()")
    assert any(v.startswith("label ") for v in violations(page))
