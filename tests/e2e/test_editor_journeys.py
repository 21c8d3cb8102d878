"""An editor's journeys in the admin, each ending with what a reader sees.

A staff account with the `articles` app's permissions (as docs/editing.md tells admins to
set one up) writes an article with a citation, a bare address, a reference and a lead image;
previews it; schedules it; publishes it from the article list. Readers get "Page not found"
until the article is published, then read it, and find it on the home page.

Uploads go to a temporary MEDIA_ROOT. With DEBUG off Django does not serve /media/ (nginx
does, see docs/deployment.md), so each browser here answers /media/ from MEDIA_ROOT itself,
as nginx would: the images the pages name must then exist on disk and decode.
"""

import datetime
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import dateformat, timezone
from PIL import Image
from playwright.sync_api import expect

from articles.models import Article, Contributor, Topic

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-password"
TITLE = "Sleep and low mood: what helps"
SLUG = "sleep-and-low-mood-what-helps"  # what the admin's prepopulate script makes of TITLE
SUMMARY = "Poor sleep and low mood feed each other. Small, regular habits break the circle."
GUIDE = "https://example.org/guide"
BODY = f"""Poor sleep and low mood feed each other.[^1]

## What helps

Keep the same hours every day, weekends too. A plain guide: {GUIDE}
"""
ALT = "A bedside lamp on a night table"
CAPTION = "A calm room helps."
CREDIT = "Jo Photographer"
REFERENCE = "Insomnia and depression: a meta-analysis"
PUBLISHER = "Journal of Sleep Research"
REFERENCE_URL = "https://example.org/insomnia-depression"
AUTHOR = "Ana Reyes"
CREDENTIALS = "PhD, clinical psychologist"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def lead_image(tmp_path):
    """A PNG to upload, wider than the two smaller sizes the site makes."""
    path = tmp_path / "bedside-lamp.png"
    image = Image.new("RGB", (1200, 800), (40, 70, 110))
    image.paste((240, 200, 120), (500, 250, 700, 550))
    image.save(path)
    return path


@pytest.fixture
def topic_and_author(transactional_db):
    """The article's topic and its author (a Contributor: a profile, not a login)."""
    Topic.objects.create(name="Sleep", slug="sleep")
    Contributor.objects.create(name=AUTHOR, slug="ana-reyes", credentials=CREDENTIALS)


@pytest.fixture
def open_browser(new_visitor, live_server, media_root):
    """A visitor whose browser gets /media/ from MEDIA_ROOT, as nginx serves it in production."""
    prefix = f"{live_server.url}/media/"
    root = media_root.resolve()

    def serve_media(route):
        name = unquote(urlsplit(route.request.url).path).removeprefix("/media/")
        file = (root / name).resolve()
        if file.is_relative_to(root) and file.is_file():
            route.fulfill(path=file)
        else:
            route.fulfill(status=404, body="not found")

    def open_one():
        visitor = new_visitor()
        visitor.context.route(lambda url: url.startswith(prefix), serve_media)
        return visitor

    return open_one


@pytest.fixture
def editor(open_browser, topic_and_author):
    """A signed-in staff account with the permissions of the articles app, and no more."""
    account = get_user_model().objects.create_user(
        "editor", "editor@example.org", PASSWORD, is_staff=True
    )
    account.user_permissions.set(Permission.objects.filter(content_type__app_label="articles"))
    page = open_browser().page
    sign_in(page, "editor", PASSWORD)
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    return page


def choose_in_autocomplete(page, field, text):
    """Pick `text` in an autocomplete select (select2): open it, type, click the option."""
    page.locator(f".field-{field} .select2-selection").click()
    dropdown = page.locator(".select2-dropdown")  # the open one; select2 keeps one at a time
    dropdown.get_by_role("searchbox").fill(text[:4])
    dropdown.get_by_role("option", name=text, exact=True).click()
    expect(page.locator(f".field-{field} .select2-selection__rendered")).to_have_text(
        re.compile(re.escape(text))
    )


def write_article(editor, lead_image, *, save="Save"):
    """Articles → Add article, every field a draft has filled in; saved with the `save` button."""
    editor.goto(reverse("admin:index"))
    editor.locator("#articles-article").get_by_role("link", name="Articles").click()
    editor.get_by_role("link", name="Add article").click()
    expect(editor.get_by_role("heading", level=1)).to_have_text("Add article")

    title = editor.get_by_label("Title:", exact=True)
    title.press_sequentially(TITLE)  # typed, as an editor does: the slug follows each key
    expect(editor.get_by_label("Slug:")).to_have_value(SLUG)
    editor.get_by_label("Summary:").fill(SUMMARY)
    editor.get_by_label("Body:").fill(BODY)
    choose_in_autocomplete(editor, "topic", "Sleep")

    image = editor.get_by_role("group", name="Image")
    image.get_by_label("Image:", exact=True).set_input_files(lead_image)
    image.get_by_label("Image alt text:").fill(ALT)
    image.get_by_label("Image caption:").fill(CAPTION)
    image.get_by_label("Photo credit:", exact=True).fill(CREDIT)

    references = editor.get_by_role("group", name=re.compile(r"^References"))
    first = references.locator("#references-0")
    first.locator(".field-order input").fill("1")
    first.locator(".field-title input").fill(REFERENCE)
    first.locator(".field-publisher input").fill(PUBLISHER)
    first.locator(".field-url input").fill(REFERENCE_URL)
    first.locator(".field-year input").fill("2019")

    people = editor.get_by_role("group", name="People")
    expect(people.get_by_label("Author:")).to_have_value("")
    choose_in_autocomplete(editor, "author", AUTHOR)
    expect(editor.get_by_role("group", name="Publishing").get_by_label("Status:")).to_have_value(
        "draft"
    )

    editor.get_by_role("button", name=save, exact=True).click()


def assert_not_found(reader, url):
    """The reader gets the site's "Page not found" at `url`, and no other console error.

    Chromium reports the 404 of the page itself on the console; that one is expected, and taken
    out of the visitor's console errors.
    """
    response = reader.page.goto(url)
    assert response.status == 404
    expect(reader.page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(reader.page).to_have_title("Page not found | PsyWeb")
    own_404 = (
        "Failed to load resource: the server responded with a status of 404 (Not Found) "
        f"({response.url})"
    )
    assert reader.console_errors == [own_404]
    reader.console_errors.clear()


def assert_image_shown(page, img):
    """The <img> names a file under /media/ that the browser loaded and decoded."""
    expect(img).to_have_attribute("src", re.compile(r"^/media/"))
    img.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())


def test_an_editor_writes_a_draft_with_a_reference_and_an_image(editor, lead_image, media_root):
    write_article(editor, lead_image)

    expect(editor.locator(".messagelist .success")).to_have_text(
        f"The article “{TITLE}” was added successfully."
    )
    expect(editor.locator(".messagelist .warning")).to_have_count(0)  # nothing taken out
    row = editor.get_by_role("row").filter(has=editor.get_by_role("link", name=TITLE))
    expect(row).to_contain_text("Draft")
    expect(row).to_contain_text(AUTHOR)

    article = Article.objects.get()
    assert article.slug == SLUG
    assert article.status == Article.Status.DRAFT
    assert article.published_at is None
    assert article.created_by.username == "editor"
    assert (article.topic.name, article.author.name) == ("Sleep", AUTHOR)
    assert (article.image_alt, article.image_caption, article.photo_credit) == (
        ALT,
        CAPTION,
        CREDIT,
    )
    assert (article.image_width, article.image_height) == (1200, 800)
    assert Path(article.image.path).is_relative_to(media_root)
    assert Path(article.image.path).is_file()
    reference = article.references.get()
    assert (reference.title, reference.publisher, reference.url, reference.year) == (
        REFERENCE,
        PUBLISHER,
        REFERENCE_URL,
        2019,
    )
    assert f'<a href="{GUIDE}" rel="noopener noreferrer">{GUIDE}</a>' in article.body_html
    assert 'href="#ref-1"' in article.body_html


def test_an_editor_previews_the_draft_that_readers_cannot_open(
    editor, open_browser, lead_image, media_root
):
    write_article(editor, lead_image, save="Save and continue editing")
    expect(editor.locator(".messagelist .success")).to_contain_text(
        f"The article “{TITLE}” was added successfully. You may edit it again below."
    )
    expect(editor.locator(".messagelist .warning")).to_have_count(0)

    # Console errors of the pages the editor opens from here (not of the admin's own pages),
    # recorded from their first line.
    errors = []
    editor.context.on(
        "console",
        lambda m: m.type == "error" and m.page != editor and errors.append(m.text),
    )
    editor.context.on("weberror", lambda e: errors.append(f"uncaught: {e.error}"))
    with editor.context.expect_page() as opened:
        editor.get_by_role("group", name="Publishing").get_by_role(
            "link", name="Open the article as readers will see it"
        ).click()
    preview = opened.value
    preview.wait_for_load_state()
    url = f"/articles/{SLUG}/"
    expect(preview).to_have_url(re.compile(re.escape(url) + "$"))

    # The site's own layout, not the admin's.
    expect(preview).to_have_title(f"{TITLE} | PsyWeb")
    expect(preview.get_by_role("banner")).to_contain_text("PsyWeb")
    expect(preview.get_by_role("contentinfo")).to_be_visible()
    expect(preview.get_by_role("status")).to_have_text(
        re.compile(r"^\s*Preview\.\s+This article is a draft\.\s+Readers cannot see it yet\.\s*$")
    )
    expect(preview.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(preview.get_by_role("heading", level=2, name="What helps")).to_be_visible()
    expect(preview.get_by_text(f"By {AUTHOR}, {CREDENTIALS}")).to_be_visible()

    image = preview.get_by_role("img", name=ALT)
    expect(image).to_have_attribute(
        "srcset",
        re.compile(r"^/media/\S+\.jpg 480w, /media/\S+\.jpg 960w, /media/\S+\.jpg 1200w$"),
    )
    assert_image_shown(preview, image)
    expect(preview.locator("figcaption")).to_have_text(
        re.compile(rf"{re.escape(CAPTION)}\s+Photo: {re.escape(CREDIT)}")
    )
    # The three sizes were made under MEDIA_ROOT.
    for candidate in image.get_attribute("srcset").split(", "):
        name = candidate.split()[0].removeprefix("/media/")
        assert (media_root / unquote(name)).is_file(), candidate

    guide = preview.get_by_role("link", name=GUIDE)
    expect(guide).to_have_attribute("href", GUIDE)

    citation = preview.get_by_role("link", name="[1]", exact=True)
    expect(citation).to_have_attribute("href", "#ref-1")
    citation.click()
    expect(preview).to_have_url(re.compile(r"#ref-1$"))
    listed = preview.locator("#ref-1")
    expect(listed).to_be_in_viewport()
    expect(listed.get_by_role("link", name=REFERENCE)).to_have_attribute("href", REFERENCE_URL)
    expect(listed).to_contain_text(f"{PUBLISHER} (2019)")
    back = listed.get_by_role("link", name="Back to the text, citation 1")
    cite_id = citation.get_attribute("id")
    expect(back).to_have_attribute("href", f"#{cite_id}")
    back.click()
    expect(preview).to_have_url(re.compile(f"#{cite_id}$"))
    expect(citation).to_be_in_viewport()
    assert errors == []

    reader = open_browser()
    assert_not_found(reader, url)
    expect(reader.page.get_by_text(TITLE)).to_have_count(0)
    assert reader.third_party_requests == []


def test_an_editor_schedules_the_article_and_readers_wait(editor, open_browser, lead_image):
    write_article(editor, lead_image, save="Save and continue editing")
    expect(editor.locator(".messagelist .success")).to_contain_text("was added successfully")

    when = (timezone.localtime() + datetime.timedelta(days=30)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    publishing = editor.get_by_role("group", name="Publishing")
    publishing.get_by_label("Status:").select_option(label="Published")
    # The split date and time inputs have no label of their own (Django's label names neither).
    publishing.locator("input[name=published_at_0]").fill(when.strftime("%Y-%m-%d"))
    publishing.locator("input[name=published_at_1]").fill("09:30:00")
    editor.get_by_role("button", name="Save", exact=True).click()

    expect(editor.locator(".messagelist .success")).to_have_text(
        f"The article “{TITLE}” was changed successfully."
    )
    row = editor.get_by_role("row").filter(has=editor.get_by_role("link", name=TITLE))
    expect(row).to_contain_text(f"Scheduled for {dateformat.format(when, 'j M Y, H:i')}")
    article = Article.objects.get()
    assert article.status == Article.Status.PUBLISHED
    assert article.published_at == when

    filters = editor.locator("#changelist-filter")
    expect(filters.get_by_role("link", name="Draft (0)")).to_be_visible()
    expect(filters.get_by_role("link", name="Published (0)")).to_be_visible()
    filters.get_by_role("link", name="Scheduled (1)").click()
    expect(editor).to_have_url(re.compile(r"[?&]publication=scheduled"))
    expect(editor.get_by_role("link", name=TITLE)).to_be_visible()

    reader = open_browser()
    assert_not_found(reader, f"/articles/{SLUG}/")
    reader.page.goto("/")
    expect(reader.page.get_by_role("heading", level=1)).to_have_text("Latest articles")
    expect(reader.page.get_by_role("link", name=TITLE)).to_have_count(0)
    assert reader.console_errors == []


def test_an_editor_publishes_from_the_list_and_readers_see_the_article(
    editor, open_browser, lead_image, media_root
):
    other = Article.objects.create(title="Another draft", summary="Not yet.", body="Later.")
    write_article(editor, lead_image)
    expect(editor.locator(".messagelist .success")).to_contain_text("was added successfully")

    reader = open_browser()
    url = f"/articles/{SLUG}/"
    assert_not_found(reader, url)

    editor.get_by_role("checkbox", name=f"Select this object for an action - {TITLE}").check()
    editor.get_by_label("Action:").select_option(label="Publish the selected articles")
    editor.get_by_role("button", name="Go").click()

    expect(editor.locator(".messagelist .success")).to_have_text(
        "Published 1 article(s). Those with a future date stay scheduled."
    )
    row = editor.get_by_role("row").filter(has=editor.get_by_role("link", name=TITLE))
    expect(row).to_contain_text("Published ")
    other_row = editor.get_by_role("row").filter(has=editor.get_by_role("link", name=other.title))
    expect(other_row).to_contain_text("Draft")  # not ticked, not published
    article = Article.objects.get(slug=SLUG)
    assert article.is_public

    page = reader.page
    response = page.goto(url)
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_role("status")).to_have_count(0)  # no preview banner
    byline = page.get_by_text(f"By {AUTHOR}, {CREDENTIALS}")
    expect(byline).to_be_visible()
    expect(byline.get_by_role("link", name=AUTHOR)).to_have_attribute("href", "/authors/ana-reyes/")
    image = page.get_by_role("img", name=ALT)
    expect(image).to_have_attribute("srcset", re.compile(r"^/media/\S+ 480w, "))
    assert_image_shown(page, image)
    references = page.get_by_role("region", name="References")
    expect(references.get_by_role("link", name=REFERENCE)).to_have_attribute("href", REFERENCE_URL)
    expect(page.get_by_text(f"Source: {REFERENCE}")).to_be_visible()
    expect(page.get_by_role("link", name="[1]", exact=True)).to_have_attribute("href", "#ref-1")
    expect(page.get_by_role("link", name=GUIDE)).to_have_attribute("href", GUIDE)

    page.goto("/")
    card = page.get_by_role("article").filter(has=page.get_by_role("link", name=TITLE))
    expect(card).to_contain_text(SUMMARY)
    thumbnail = card.locator("img.card-thumbnail")
    expect(thumbnail).to_have_attribute("src", re.compile(r"^/media/\S+\.jpg$"))
    assert_image_shown(page, thumbnail)
    name = thumbnail.get_attribute("src").removeprefix("/media/")
    with Image.open(media_root / unquote(name)) as made:
        assert made.size == (240, 160)
    expect(page.get_by_role("link", name=other.title)).to_have_count(0)
    assert reader.console_errors == []
    assert reader.third_party_requests == []
