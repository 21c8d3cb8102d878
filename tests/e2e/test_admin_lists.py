"""The admin's article and poll lists fit a 1280-pixel screen, without scrolling sideways."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "changelist", ["admin:articles_article_changelist", "admin:polls_poll_changelist"]
)
def test_the_list_fits_a_1280_pixel_screen(demo, new_visitor, changelist):
    get_user_model().objects.create_superuser("editor", "editor@example.org", "a-long-password")
    editor = new_visitor(viewport={"width": 1280, "height": 800}).page
    sign_in(editor, "editor", "a-long-password")

    editor.goto(reverse(changelist))

    assert editor.locator("#result_list tbody tr").count() >= 1
    assert editor.evaluate("document.documentElement.scrollWidth") <= 1280
