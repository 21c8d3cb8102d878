"""The "PsyWeb Poll" box beside the demo article, as a reader uses it with a mouse."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_URL

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Are you currently taking or have you ever been prescribed anti-depressants?"
ANSWERS = ["Yes, currently", "Yes, in the past", "No, never"]
NO_CHOICE = re.compile("Please choose an answer", re.IGNORECASE)


def poll_box(page):
    return page.get_by_role("complementary", name="PsyWeb Poll", exact=True)


def article_url_pattern(live_server):
    """The article's address, with or without a #fragment (the poll box's anchor)."""
    return re.compile("^" + re.escape(live_server.url + ARTICLE_URL) + "(#.*)?$")


def vote(page, answer):
    box = poll_box(page)
    box.locator("label", has_text=answer).click()
    expect(box.get_by_role("radio", name=answer)).to_be_checked()
    box.get_by_role("button", name="Vote").click()


def expect_results(box, total, percents):
    expect(box).to_contain_text(f"Total votes: {total}")
    for answer, percent in percents.items():
        row = box.get_by_role("listitem").filter(has_text=answer)
        # innerText: what is on screen (not the <progress> bar's fallback text).
        expect(row).to_contain_text(re.compile(rf"(^|\D){percent}%"), use_inner_text=True)


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


def test_reader_votes_sees_results_cannot_vote_again_and_another_reader_can(
    page, new_visitor, demo, live_server
):
    page.goto(ARTICLE_URL)

    vote(page, "Yes, in the past")

    expect(page).to_have_url(article_url_pattern(live_server))
    box = poll_box(page)
    expect(box).to_contain_text("Thank you for voting")
    expect_results(box, 1, {"Yes, in the past": 100, "Yes, currently": 0, "No, never": 0})

    page.reload()
    box = poll_box(page)
    expect_results(box, 1, {"Yes, in the past": 100})
    expect(box.get_by_role("button", name="Vote")).to_have_count(0)
    expect(box.get_by_role("radio")).to_have_count(0)

    other = new_visitor().page
    other.goto(ARTICLE_URL)
    expect(poll_box(other)).to_contain_text("Total votes: 1")
    vote(other, "No, never")
    expect(other).to_have_url(article_url_pattern(live_server))
    expect_results(
        poll_box(other), 2, {"Yes, in the past": 50, "No, never": 50, "Yes, currently": 0}
    )

    page.reload()
    expect_results(poll_box(page), 2, {"Yes, in the past": 50, "No, never": 50})


def press_vote_with_no_answer(page):
    """Press Vote with nothing chosen; return the POST's response, or None if none was sent."""
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    button = poll_box(page).get_by_role("button", name="Vote")
    required = poll_box(page).get_by_role("radio").first.evaluate("(radio) => radio.required")
    if required:
        button.click()
        return None, posts
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        button.click()
    page.wait_for_load_state()
    return posted.value, posts


def test_voting_with_no_answer_tells_the_reader_why_beside_the_question(page, demo):
    page.goto(ARTICLE_URL)

    response, posts = press_vote_with_no_answer(page)

    if response is None:
        # The radios carry `required`: the browser keeps the form and says why.
        assert posts == [], "an empty ballot was sent"
        first = poll_box(page).get_by_role("radio").first
        expect(first).to_have_js_property("validity.valueMissing", value=True)
        assert first.evaluate("(radio) => radio.matches(':invalid')")
        assert first.evaluate("(radio) => radio.validationMessage")
        return

    assert response.status == 400, f"expected 400 for an empty ballot, got {response.status}"
    alert = page.get_by_role("alert").filter(has_text=NO_CHOICE)
    expect(alert).to_be_visible()
    question = page.get_by_role("group", name=QUESTION)
    expect(question).to_be_visible()
    inside = question.get_by_role("alert").filter(has_text=NO_CHOICE).count() > 0
    description = question.evaluate(
        """(fieldset) => (fieldset.getAttribute("aria-describedby") || "")
            .split(/\\s+/)
            .map((id) => document.getElementById(id)?.textContent || "")
            .join(" ")"""
    )
    assert inside or NO_CHOICE.search(description), "the error is not tied to the question"
    # Nothing was counted, and the reader can answer again.
    expect(page.get_by_text("Total votes: 0")).to_be_visible()
    expect(question.get_by_role("radio")).to_have_count(len(ANSWERS))
    expect(page.get_by_role("button", name="Vote")).to_be_visible()


def test_after_the_no_answer_error_a_reader_can_vote_and_returns_to_the_article(
    page, demo, live_server
):
    page.goto(ARTICLE_URL)
    response, _ = press_vote_with_no_answer(page)
    if response is None:
        pytest.skip("the browser itself refuses an empty ballot; there is no error page")

    page.get_by_role("group", name=QUESTION).locator("label", has_text="No, never").click()
    page.get_by_role("button", name="Vote").click()

    expect(page).to_have_url(article_url_pattern(live_server))
    box = poll_box(page)
    expect(box).to_contain_text("Thank you for voting")
    expect_results(box, 1, {"No, never": 100})
