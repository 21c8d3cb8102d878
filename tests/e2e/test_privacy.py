"""Reader pages load nothing from another site and log no error (a CSP violation would)."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_URL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("path", ["/", ARTICLE_URL, "/legal/"], ids=["home", "article", "legal"])
def test_reader_page_makes_no_third_party_request_and_logs_no_error(visitor, demo, path):
    response = visitor.page.goto(path)
    visitor.page.wait_for_load_state("networkidle")

    assert response.status == 200
    assert visitor.third_party_requests == []
    assert visitor.console_errors == []


def test_reading_and_voting_on_an_article_makes_no_third_party_request(visitor, demo):
    page = visitor.page
    page.goto(ARTICLE_URL)
    page.mouse.wheel(0, 10_000)  # anything loaded lazily further down would load now
    page.get_by_role("radio", name="No, never").check()
    page.locator("form.poll-form", has_text="No, never").get_by_role("button", name="Vote").click()
    expect(page.get_by_text("Total votes: 1")).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert visitor.third_party_requests == []
    assert visitor.console_errors == []


def test_third_party_requests_are_recorded_and_blocked(visitor, live_server):
    """The recorder the tests above rely on does see, and stop, a request to another host."""
    page = visitor.page
    # Another host on this machine (loopback), so nothing could leave it even if not blocked.
    foreign = "http://127.0.0.2:9/pixel.png"
    with page.expect_event("requestfailed") as failed:
        page.set_content(f'<img src="{foreign}" alt="">')

    assert visitor.third_party_requests == [foreign]
    assert re.search("BLOCKED_BY_CLIENT", failed.value.failure or ""), failed.value.failure
