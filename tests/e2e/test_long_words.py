"""Long words and addresses never widen the page on a phone."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 360, "height": 740}


def test_a_long_word_and_a_long_address_wrap_on_a_phone(new_visitor, make_article):
    article = make_article(
        title="Pneumonoultramicroscopicsilicovolcanoconiosis" * 2,
        body="Antidisestablishmentarianism" * 4
        + "\n\nhttps://example.org/"
        + "a-very-long-path-segment/" * 6,
    )
    page = new_visitor(viewport=PHONE, is_mobile=True).page
    page.goto(article.get_absolute_url())

    assert page.locator(".article-body a").count() == 1  # the bare address became a link
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
