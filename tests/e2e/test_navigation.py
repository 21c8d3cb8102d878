"""The header's Topics disclosure, in a real browser: opened by keyboard without JavaScript,
wrapping on a phone, and passing the accessibility audit open."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils.text import slugify

from articles.models import Topic

from .test_axe import WCAG_AA

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 375, "height": 740}
TOPICS = [
    "Anxiety", "Bipolar disorder", "Depression", "Eating disorders", "Grief and loss",
    "Obsessive-compulsive disorder", "Parenting", "Post-traumatic stress", "Relationships",
    "Schizophrenia", "Self-harm", "Sleep", "Stress at work", "Substance use",
]  # fmt: skip


@pytest.fixture
def many_topics(make_article):
    for name in TOPICS:
        make_article(topic=Topic.objects.create(name=name, slug=slugify(name)))


def test_on_a_phone_without_javascript_the_topics_open_from_the_keyboard_and_wrap(
    new_visitor, many_topics
):
    page = new_visitor(viewport=PHONE, is_mobile=True, java_script_enabled=False).page
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    link = nav.get_by_role("link", name="Obsessive-compulsive disorder")
    assert not link.is_visible()

    nav.locator("summary").focus()
    page.keyboard.press("Enter")

    assert link.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/topics/obsessive-compulsive-disorder/")
    current = page.get_by_role("navigation", name="Main").locator('[aria-current="page"]')
    assert current.text_content() == "Obsessive-compulsive disorder"


@pytest.mark.parametrize("viewport", [PHONE, None], ids=["phone", "desktop"])
def test_the_open_topics_pass_an_accessibility_audit(new_visitor, many_topics, viewport):
    page = new_visitor(**({"viewport": viewport} if viewport else {})).page
    page.goto("/topics/sleep/")
    page.get_by_role("navigation", name="Main").locator("summary").click()
    assert page.locator("details.nav-topics").evaluate("details => details.open")

    results = Axe().run(page, options=WCAG_AA)

    assert [
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ] == []
