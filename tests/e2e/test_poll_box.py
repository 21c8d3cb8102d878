"""The "PsyWeb Poll" box beside the demo article, as readers use it, with and without JavaScript.

With JavaScript the poll island (static/js/polls.js) votes without reloading the page; without
it the form posts and lands on a page with the results. Either way the page itself is the one
every reader shares.
"""

import re

import pytest
from playwright.sync_api import expect

from polls.models import Choice, Poll, Vote

from .conftest import ARTICLE_URL

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Are you currently taking or have you ever been prescribed anti-depressants?"
ANSWERS = ["Yes, currently", "Yes, in the past", "No, never"]
NO_CHOICE = re.compile("Please choose an answer", re.IGNORECASE)
# Recorded before any page script runs: every Content-Security-Policy violation on the page.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (event) => window.cspViolations.push(event.violatedDirective + " " + event.blockedURI));
"""


def poll_box(page):
    return page.get_by_role("complementary", name=f"PsyWeb Poll: {QUESTION}", exact=True)


def choose(box, answer):
    box.locator("label", has_text=answer).click()
    expect(box.get_by_role("radio", name=answer)).to_be_checked()


def vote(page, answer):
    box = poll_box(page)
    choose(box, answer)
    box.get_by_role("button", name="Vote").click()


def expect_results(box, total, percents):
    expect(box).to_contain_text(f"Total votes: {total}")
    for answer, percent in percents.items():
        row = box.get_by_role("listitem").filter(has_text=answer)
        # innerText: what is on screen (not the <progress> bar's fallback text).
        expect(row).to_contain_text(re.compile(rf"(^|\D){percent}%"), use_inner_text=True)


def expect_own_answer(box, answer):
    own = box.get_by_role("listitem").filter(has_text="(your answer)")
    expect(own).to_have_count(1)
    expect(own).to_contain_text(answer)


def island_visitor(new_visitor):
    visitor = new_visitor()
    visitor.page.add_init_script(RECORD_CSP_VIOLATIONS)
    return visitor


def expect_clean(visitor):
    assert visitor.console_errors == []
    assert visitor.page.evaluate("window.cspViolations") == []


def test_poll_box_offers_the_question_as_a_labelled_form(page, demo):
    page.goto(ARTICLE_URL)
    box = poll_box(page)

    expect(box).to_have_count(1)
    expect(box.get_by_role("heading", name="PsyWeb Poll")).to_be_visible()
    question = box.locator("fieldset")
    expect(question.locator("legend")).to_have_text(QUESTION)
    expect(box.get_by_role("group", name=QUESTION)).to_be_visible()
    radios = question.get_by_role("radio")
    expect(radios).to_have_count(len(ANSWERS))
    for answer in ANSWERS:
        radio = question.get_by_role("radio", name=answer, exact=True)
        expect(radio).to_have_attribute("name", "choice")
        expect(radio).not_to_be_checked()
    expect(box.get_by_role("button", name="Vote")).to_be_visible()
    expect(box).to_contain_text("Total votes: 0")


def test_with_javascript_a_reader_votes_without_leaving_the_page(new_visitor, demo, live_server):
    visitor = island_visitor(new_visitor)
    page = visitor.page
    page.goto(ARTICLE_URL)
    page.evaluate("window.sameDocument = true")

    vote(page, "Yes, in the past")

    box = poll_box(page)
    expect(box).to_contain_text("Thank you for voting.")
    expect_results(box, 1, {"Yes, in the past": 100, "Yes, currently": 0, "No, never": 0})
    expect_own_answer(box, "Yes, in the past")
    expect(box.get_by_role("radio")).to_have_count(0)
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"
    assert page.url == live_server.url + ARTICLE_URL
    assert Vote.objects.count() == 1
    expect_clean(visitor)


def test_a_reader_who_voted_sees_their_answer_on_every_page_with_the_poll(new_visitor, demo):
    visitor = island_visitor(new_visitor)
    page = visitor.page
    page.goto(ARTICLE_URL)
    vote(page, "No, never")
    expect(poll_box(page)).to_contain_text("Thank you for voting.")

    for address in (ARTICLE_URL, "/", "/polls/antidepressants/"):
        page.goto(address)
        box = page.locator(f"[data-poll='{Poll.objects.get(slug='antidepressants').pk}']").first
        expect(box).to_contain_text("You have voted in this poll.")
        expect_own_answer(box, "No, never")
        expect(box.get_by_role("radio")).to_have_count(0)
    expect_clean(visitor)


def test_another_reader_still_gets_the_form_and_both_votes_count(new_visitor, demo):
    first = island_visitor(new_visitor).page
    first.goto(ARTICLE_URL)
    vote(first, "Yes, in the past")
    expect(poll_box(first)).to_contain_text("Thank you for voting.")

    other = island_visitor(new_visitor)
    other.page.goto(ARTICLE_URL)
    expect(poll_box(other.page).get_by_role("button", name="Vote")).to_be_visible()
    vote(other.page, "No, never")
    box = poll_box(other.page)
    expect_results(box, 2, {"Yes, in the past": 50, "No, never": 50, "Yes, currently": 0})
    expect_own_answer(box, "No, never")
    expect_clean(other)


def test_twenty_rapid_clicks_on_vote_count_once(new_visitor, demo):
    visitor = island_visitor(new_visitor)
    page = visitor.page
    page.goto(ARTICLE_URL)
    box = poll_box(page)
    choose(box, "Yes, currently")

    page.evaluate(
        """() => {
            const box = document.querySelector(".layout > aside.poll-box");
            const button = box.querySelector("form button[type=submit]");
            for (let i = 0; i < 20; i++) button.click();
        }"""
    )

    expect(box).to_contain_text("Thank you for voting.")
    expect_results(box, 1, {"Yes, currently": 100})
    assert Vote.objects.count() == 1
    assert sum(Choice.objects.with_votes().values_list("votes", flat=True)) == 1


def test_a_reader_who_cleared_the_marker_is_still_refused_a_second_vote(new_visitor, demo):
    visitor = island_visitor(new_visitor)
    page = visitor.page
    page.goto(ARTICLE_URL)
    vote(page, "Yes, currently")
    expect(poll_box(page)).to_contain_text("Thank you for voting.")

    page.evaluate("localStorage.clear()")
    page.goto(ARTICLE_URL)
    box = poll_box(page)
    # The first touch asks the server, which knows the ballot: the form may be gone before a
    # check of the radio could run, so only the touch is made here.
    box.locator("label", has_text="No, never").click()

    expect(box).to_contain_text("You have voted in this poll.")
    expect_own_answer(box, "Yes, currently")
    assert Vote.objects.count() == 1
    expect_clean(visitor)


def test_the_island_says_why_when_no_answer_is_chosen(new_visitor, demo):
    visitor = island_visitor(new_visitor)
    page = visitor.page
    page.goto(ARTICLE_URL)

    poll_box(page).get_by_role("button", name="Vote").click()

    alert = poll_box(page).get_by_role("alert")
    expect(alert).to_have_text(NO_CHOICE)
    choose(poll_box(page), "No, never")
    poll_box(page).get_by_role("button", name="Vote").click()
    expect(poll_box(page)).to_contain_text("Thank you for voting.")
    assert Vote.objects.count() == 1


# Without JavaScript


def test_without_javascript_one_click_counts_and_lands_on_the_results(new_visitor, demo):
    page = new_visitor(java_script_enabled=False).page
    page.goto(ARTICLE_URL)

    vote(page, "Yes, in the past")

    expect(page).to_have_url(re.compile(r"/polls/antidepressants/voted/"))
    expect(page.get_by_role("status")).to_have_text("Thank you for voting.")
    expect(page.locator(".poll-results")).to_contain_text("(your answer)")
    expect(page.get_by_text("Total votes: 1")).to_be_visible()
    assert Vote.objects.count() == 1

    page.get_by_role("link", name="Back to the page you were reading").click()
    expect(page).to_have_url(re.compile(re.escape(ARTICLE_URL) + "#poll-antidepressants$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(demo.title)


def test_without_javascript_no_answer_gets_the_message_and_a_way_back(new_visitor, demo):
    page = new_visitor(java_script_enabled=False).page
    page.goto(ARTICLE_URL)

    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        poll_box(page).get_by_role("button", name="Vote").click()

    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_have_text(NO_CHOICE)
    expect(page.get_by_text("Total votes: 0")).to_be_visible()
    page.get_by_role("link", name="Back to the page you were reading").click()
    expect(page).to_have_url(re.compile(re.escape(ARTICLE_URL)))
    assert not Vote.objects.exists()


def test_a_check_all_that_apply_poll_takes_several_answers_up_to_its_limit(new_visitor, make_poll):
    poll = make_poll(
        slug="side-effects",
        question="Which side effects have you noticed?",
        choices=("Sleep", "Mood", "Appetite", "None of these"),
        max_choices=2,
    )
    visitor = island_visitor(new_visitor)
    page = visitor.page
    page.goto(poll.get_absolute_url())
    form = page.locator("form.poll-form")
    expect(form).to_contain_text("Choose all that apply, up to 2.")
    form.get_by_role("checkbox", name="Sleep").check()
    form.get_by_role("checkbox", name="Appetite").check()
    # At the limit, the other answers wait until one is unticked.
    expect(form.get_by_role("checkbox", name="Mood")).to_be_disabled()
    form.get_by_role("checkbox", name="Appetite").uncheck()
    expect(form.get_by_role("checkbox", name="Mood")).to_be_enabled()
    form.get_by_role("checkbox", name="Mood").check()
    form.get_by_role("button", name="Vote").click()

    box = page.locator("[data-poll]").first
    expect(box).to_contain_text("Thank you for voting.")
    expect(box).to_contain_text("Voters: 1 · Answers chosen: 2")
    expect(box).to_contain_text("the share of voters who chose that answer")
    own = box.get_by_role("listitem").filter(has_text="(your answer)")
    expect(own).to_have_count(2)
    expect(own.first).to_contain_text("Sleep")
    expect(own.last).to_contain_text("Mood")
    ballot = Vote.objects.get()
    assert sorted(ballot.choices.values_list("text", flat=True)) == ["Mood", "Sleep"]
    expect_clean(visitor)
