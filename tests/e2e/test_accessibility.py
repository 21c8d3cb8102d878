"""What a keyboard user and a phone reader get on an article page."""

import pytest
from playwright.sync_api import expect

from .conftest import ARTICLE_URL

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 375, "height": 740}


def on_screen(box, viewport):
    return (
        box is not None
        and box["width"] > 0
        and box["height"] > 0
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    )


FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName,
    text: el.textContent.trim(),
    inMain: el.closest("main") !== null,
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth),
  };
}"""


def test_first_tab_shows_the_skip_link_and_enter_moves_focus_to_main(page, demo):
    page.goto(ARTICLE_URL)
    skip = page.get_by_role("link", name="Skip to main content")
    assert not on_screen(skip.bounding_box(), page.viewport_size), "visible before it is focused"

    page.keyboard.press("Tab")

    expect(skip).to_be_focused()
    assert on_screen(skip.bounding_box(), page.viewport_size), skip.bounding_box()

    page.keyboard.press("Enter")

    expect(page.locator("#main-content")).to_be_focused()
    # The next Tab carries on from the content, not from the top of the page.
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["inMain"], page.evaluate(FOCUSED)


def test_links_focused_from_the_keyboard_show_a_visible_outline(page, demo):
    page.goto(ARTICLE_URL)
    seen = []
    # The skip link, the site name, the header links, the links in the article, then the
    # poll's radios and button: everything a keyboard reaches on the way down.
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(FOCUSED))

    links = [focused for focused in seen if focused["tag"] == "A"]
    assert len(links) >= 5, seen
    assert any(link["inMain"] for link in links), seen
    for focused in seen:
        assert focused["outlineStyle"] != "none", focused
        assert focused["outlineWidth"] > 0, focused


def test_article_on_a_phone_has_no_sideways_scroll_and_readable_text(new_visitor, demo):
    page = new_visitor(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).page
    page.goto(ARTICLE_URL)

    layout = page.evaluate(
        """() => {
          const root = document.scrollingElement;
          const sizes = (selector) => Array.from(
            document.querySelectorAll(selector), (el) => parseFloat(getComputedStyle(el).fontSize)
          );
          return {
            scrollWidth: root.scrollWidth,
            clientWidth: root.clientWidth,
            body: parseFloat(getComputedStyle(document.body).fontSize),
            // The article's own text, not a poll box placed in it.
            articleText: sizes(
              ".article-body > p, .article-body > * > li, .article-body blockquote p"
            ),
          };
        }"""
    )
    # Laid out at the phone's width (the viewport meta tag works), and nothing wider than it.
    assert layout["clientWidth"] == PHONE["width"], layout
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["body"] >= 16, layout
    assert layout["articleText"], "no article text found"
    assert min(layout["articleText"]) >= 16, layout
    # The poll box is still there, below the article, inside the screen's width.
    poll_box = page.locator(".layout > aside.poll-box")
    box = poll_box.bounding_box()
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box
