"""A reader finds the demo article, reads it with its source, credit and disclaimer, and the
Legal Statement; the site's own stylesheet is what styles it."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_URL

pytestmark = pytest.mark.django_db(transaction=True)

TITLE = "Rejection While Depressed: Why It’s So Painful"


def test_reader_goes_from_home_through_the_demo_article_to_the_legal_statement(page, demo):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Latest articles")

    page.get_by_role("link", name=TITLE).click()

    expect(page).to_have_url(re.compile(re.escape(ARTICLE_URL) + "$"))
    expect(page).to_have_title(f"{TITLE} | PsyWeb")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_role("heading", name="Natural Opioids and Depression")).to_be_visible()
    expect(page.get_by_text("Source: Brain Behavior Research Foundation")).to_be_visible()
    expect(page.get_by_text("Photo credit: Luis Sarabia / flickr creative commons")).to_be_visible()
    disclaimer = page.get_by_role("complementary", name="Medical disclaimer")
    expect(disclaimer).to_be_visible()
    expect(disclaimer).to_contain_text("designed to support, not replace, the relationship")

    disclaimer.get_by_role("link", name="Legal Statement").click()

    expect(page).to_have_url(re.compile(r"/legal/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Legal Statement")
    expect(page).to_have_title("Legal Statement | PsyWeb")


def test_site_stylesheet_is_served_and_styles_the_page(page, demo):
    with page.expect_response(re.compile(r"/static/css/site\.css$")) as stylesheet:
        page.goto(ARTICLE_URL)

    response = stylesheet.value
    assert response.status == 200, f"{response.url} answered {response.status}"
    assert response.headers["content-type"].startswith("text/css")
    # The browser parsed and applied it: the header is the site's dark blue (--brand-dark),
    # the body text the site's colour, not the browser's defaults.
    rules = page.evaluate(
        """() => Array.from(document.styleSheets)
            .filter((sheet) => (sheet.href || "").endsWith("/static/css/site.css"))
            .map((sheet) => sheet.cssRules.length)"""
    )
    assert rules, "site.css is not among the page's stylesheets"
    assert rules[0] > 0, "site.css has no rules"
    expect(page.locator(".site-header")).to_have_css("background-color", "rgb(18, 61, 94)")
    expect(page.locator("body")).to_have_css("color", "rgb(31, 35, 40)")
