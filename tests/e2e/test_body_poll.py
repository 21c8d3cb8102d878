"""A poll placed inside an article's body (`[poll:<slug>]`), voted in by a real Chromium.

The page also carries the featured poll in the box beside the article: the poll island
handles each container on its own, so a vote in one leaves the other as it was.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import expect

from articles.models import Article
from polls.models import Poll, Vote

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How many hours do you usually sleep?"
ANSWERS = ["Less than 6", "6 to 8", "More than 8"]
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (event) => window.cspViolations.push(event.violatedDirective + " " + event.blockedURI));
"""
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def make_poll(slug, question, answers, **fields):
    poll = Poll.objects.create(
        slug=slug, question=question, opens_at=timezone.now() - timezone.timedelta(days=1), **fields
    )
    for order, text in enumerate(answers, start=1):
        poll.choices.create(text=text, order=order)
    return poll


@pytest.fixture
def article(transactional_db, live_server):
    make_poll("featured", "Featured question?", ["Yes", "No"], is_featured=True)
    make_poll("sleep", QUESTION, ANSWERS)
    return Article.objects.create(
        title="Sleep and mood",
        summary="How sleep and mood go together.",
        body="Sleep and mood go together.\n\n[poll:sleep]\n\nWhatever you answered, rest.",
        status=Article.Status.PUBLISHED,
        published_at=timezone.now() - timezone.timedelta(minutes=1),
    )


def body_poll(page):
    return page.locator(".article-body").get_by_role("complementary", name="PsyWeb Poll")


def box_beside(page):
    return page.locator(".layout > aside.poll-box")


def test_with_javascript_a_reader_votes_in_the_body_poll_without_leaving_the_article(
    new_visitor, article, live_server
):
    visitor = new_visitor()
    page = visitor.page
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.goto(article.get_absolute_url())
    page.evaluate("window.sameDocument = true")
    box = body_poll(page)
    expect(box).to_have_count(1)
    expect(box.get_by_role("group", name=QUESTION)).to_be_visible()

    box.locator("label", has_text="6 to 8").click()
    expect(box.get_by_role("radio", name="6 to 8")).to_be_checked()
    box.get_by_role("button", name="Vote").click()

    expect(box).to_contain_text("Thank you for voting.")
    expect(box).to_contain_text("Total votes: 1")
    own = box.get_by_role("listitem").filter(has_text="(your answer)")
    expect(own).to_contain_text("6 to 8")
    expect(box.get_by_role("radio")).to_have_count(0)
    # The featured poll beside the article is another poll: its form is still there.
    expect(box_beside(page).get_by_role("radio")).to_have_count(2)
    expect(box_beside(page)).to_contain_text("Featured question?")
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"
    assert page.url == live_server.url + article.get_absolute_url()
    assert list(Vote.objects.values_list("poll__slug", flat=True)) == ["sleep"]
    assert visitor.console_errors == []
    assert page.evaluate("window.cspViolations") == []
    assert visitor.third_party_requests == []


def test_without_javascript_a_vote_in_the_body_poll_leads_back_to_it(
    new_visitor, article, live_server
):
    page = new_visitor(java_script_enabled=False).page
    page.goto(article.get_absolute_url())
    box = body_poll(page)
    box.locator("label", has_text="More than 8").click()
    box.get_by_role("button", name="Vote").click()

    expect(page).to_have_url(re.compile(r"/polls/sleep/voted/"))
    expect(page.get_by_text("Thank you for voting.")).to_be_visible()
    page.get_by_role("link", name="Back to the page you were reading").click()

    expect(page).to_have_url(f"{live_server.url}{article.get_absolute_url()}#poll-sleep")
    assert Vote.objects.filter(poll__slug="sleep").count() == 1


def test_a_page_with_a_body_poll_passes_the_accessibility_audit(page, article):
    page.goto(article.get_absolute_url())
    expect(body_poll(page)).to_have_count(1)
    results = Axe().run(page, options=WCAG_AA)
    assert [v["id"] for v in results.response["violations"]] == []
