"""An editor changes an article's title, finds the change in its History, restores the earlier
version, and readers see the old title again."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from .conftest import ARTICLE_URL, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

TITLE = "Rejection While Depressed: Why It’s So Painful"
NEW_TITLE = "Why rejection hurts more in depression"


def test_an_editor_restores_an_earlier_title_from_the_history(demo, new_visitor):
    get_user_model().objects.create_superuser("editor", "editor@example.org", "a-long-password")
    editor = new_visitor().page
    sign_in(editor, "editor", "a-long-password")
    expect(editor.get_by_role("heading", name="Site administration")).to_be_visible()

    editor.goto(reverse("admin:articles_article_change", args=[demo.pk]))
    editor.get_by_label("Title").fill(NEW_TITLE)
    editor.get_by_role("button", name="Save", exact=True).click()
    saved = editor.get_by_text(f"The article “{NEW_TITLE}” was changed successfully.")
    expect(saved).to_be_visible()

    editor.goto(reverse("admin:articles_article_change", args=[demo.pk]))
    editor.get_by_role("link", name="History").click()
    versions = editor.locator("#change-history tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("editor")  # who
    expect(versions.first).to_contain_text(f"Title: {TITLE}\u00a0→\u00a0\u00a0{NEW_TITLE}")

    versions.last.get_by_role("link", name=TITLE).click()  # the version load_demo wrote
    expect(editor.get_by_role("heading", level=1)).to_have_text(f"Revert {TITLE}")
    expect(editor.get_by_label("Title")).to_have_value(TITLE)
    editor.get_by_role("button", name="Revert").click()
    restored = editor.get_by_text(f"The article “{TITLE}” was changed successfully.")
    expect(restored).to_be_visible()

    editor.goto(reverse("admin:articles_article_history", args=[demo.pk]))
    expect(versions).to_have_count(3)  # the restore is a version of its own
    expect(versions.first).to_contain_text("Restored the version of")
    expect(versions.first).to_contain_text(f"Title: {NEW_TITLE}\u00a0→\u00a0\u00a0{TITLE}")

    reader = new_visitor().page
    reader.goto(ARTICLE_URL)
    expect(reader.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(reader).to_have_title(re.compile(re.escape(TITLE)))
