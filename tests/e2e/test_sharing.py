"""An article with its share links and JSON-LD, in a real browser: nothing loads from the
networks the links name, and the JSON-LD breaks no Content Security Policy rule."""

import json

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_URL

pytestmark = pytest.mark.django_db(transaction=True)


def test_share_links_and_json_ld_load_nothing_from_another_site_and_log_no_error(visitor, demo):
    page = visitor.page
    response = page.goto(ARTICLE_URL)
    page.mouse.wheel(0, 10_000)  # anything loaded lazily further down would load now
    page.wait_for_load_state("networkidle")

    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    share = page.get_by_role("navigation", name="Share this article")
    for name in ("E-mail", "Link to this article", "Facebook", "X (Twitter)", "LinkedIn"):
        expect(share.get_by_role("link", name=name)).to_be_visible()
    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["@type"] == "MedicalWebPage"
    assert data["url"] == page.url
    assert visitor.third_party_requests == []
    assert visitor.console_errors == []


def test_an_inline_script_on_the_article_page_would_be_reported(visitor, demo):
    """The check above can see a CSP violation: an executable inline script is refused, logged."""
    page = visitor.page
    page.goto(ARTICLE_URL)
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.ran = true";
            document.head.append(script);
        }"""
    )
    page.wait_for_timeout(200)

    assert page.evaluate("window.ran") is None
    assert any("Content Security Policy" in error for error in visitor.console_errors), (
        visitor.console_errors
    )
