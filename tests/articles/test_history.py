"""History in the admin: every edit is a version naming its editor, shown with what it
changed, and any version can be restored, which is a version of its own."""

import importlib
from http import HTTPStatus

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import caches
from django.urls import reverse
from pytest_django.asserts import assertContains

from articles.models import Article, Contributor, CrisisNotice, Disclaimer, LegalStatement
from tests.admin_forms import form_data, page_text

pytestmark = pytest.mark.django_db

history_migration = importlib.import_module("articles.migrations.0006_history")


def admin_url(model, view, *args):
    return reverse(f"admin:articles_{model._meta.model_name}_{view}", args=args)


def edit(client, obj, **changes):
    """Change `obj` in its admin form, as an editor does: the form as it stands, plus changes."""
    url = admin_url(type(obj), "change", obj.pk)
    data = form_data(client.get(url), f"{type(obj)._meta.model_name}_form")
    response = client.post(url, {**data, **changes})
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].errors


def restore(client, version):
    """Open `version` from the History page and press Revert, changing nothing."""
    model = version.instance_type
    url = admin_url(model, "simple_history", version.id, version.history_id)
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK
    response = client.post(url, form_data(page, f"historical{model._meta.model_name}_form"))
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].errors


# Each model with a history, made as it was first written, and an editor's change to it.
TRACKED = {
    Article: (
        lambda make_article: make_article(title="Sleep and mood", body="## Old\n\nOld words."),
        {"title": "Sleep, mood and memory", "body": "## New\n\nNew words."},
    ),
    Contributor: (
        lambda _: Contributor.objects.create(name="Dr Ada Okafor", slug="ada", bio="Old bio."),
        {"bio": "New bio."},
    ),
    CrisisNotice: (
        lambda _: CrisisNotice.objects.create(text="Old notice.", helpline_name="Old line"),
        {"text": "New notice.", "helpline_name": "New line"},
    ),
    Disclaimer: (
        lambda _: Disclaimer.objects.create(name="Medical", text="Old disclaimer."),
        {"text": "New disclaimer."},
    ),
    LegalStatement: (
        lambda _: LegalStatement.objects.create(body="## Old\n\nOld terms."),
        {"body": "## New\n\nNew terms."},
    ),
}


@pytest.mark.parametrize("model", TRACKED)
def test_an_edit_in_the_admin_is_a_version_naming_the_editor(
    admin_client, admin_user, make_article, model
):
    make, changes = TRACKED[model]
    obj = make(make_article)

    edit(admin_client, obj, **changes)

    latest = obj.history.latest()
    assert (latest.history_type, latest.history_user) == ("~", admin_user)
    assert {field: getattr(latest, field) for field in changes} == changes
    assert obj.history.count() == 2


@pytest.mark.parametrize("model", TRACKED)
def test_restoring_a_version_brings_its_text_back_as_a_new_version(
    admin_client, admin_user, make_article, model
):
    make, changes = TRACKED[model]
    obj = make(make_article)
    first = obj.history.get()
    before = {field: getattr(obj, field) for field in changes}
    edit(admin_client, obj, **changes)

    restore(admin_client, first)

    obj.refresh_from_db()
    assert {field: getattr(obj, field) for field in changes} == before
    versions = list(obj.history.all())  # newest first
    assert len(versions) == 3
    assert (versions[0].history_type, versions[0].history_user) == ("~", admin_user)
    assert versions[0].history_change_reason.startswith("Restored the version of ")
    assert first.history_change_reason is None  # the restored version is left as it was


@pytest.mark.parametrize("model", [Article, LegalStatement])
def test_a_restored_body_is_rendered_again(admin_client, make_article, model):
    make, changes = TRACKED[model]
    obj = make(make_article)
    first = obj.history.get()
    edit(admin_client, obj, **changes)
    obj.refresh_from_db()
    assert 'id="section-new"' in obj.body_html

    restore(admin_client, first)

    obj.refresh_from_db()
    assert 'id="section-old"' in obj.body_html
    assert "New" not in obj.body_html


def test_readers_see_the_restored_title(admin_client, client, make_article):
    article = make_article(title="Sleep and mood")
    first = article.history.get()
    edit(admin_client, article, title="Sleep, mood and memory")
    page = client.get(article.get_absolute_url())
    assertContains(page, '<h1 id="article-title">Sleep, mood and memory</h1>', html=True)

    restore(admin_client, first)
    for cache in caches.all():
        cache.clear()  # the shared copy of the page has had its half second

    page = client.get(article.get_absolute_url())
    assertContains(page, '<h1 id="article-title">Sleep and mood</h1>', html=True)


def test_the_history_page_lists_who_changed_what_and_when(admin_client, make_article):
    article = make_article(title="Sleep and mood", body="Old words.")
    edit(admin_client, article, title="Sleep, mood and memory", body="New words.")

    response = admin_client.get(admin_url(Article, "history", article.pk))

    assert response.status_code == HTTPStatus.OK
    text = page_text(response)
    assert "Title: Sleep and mood → Sleep, mood and memory" in text
    assert "Body: Old words. → New words." in text
    assert "Changed admin" in text  # the version's kind, then who made it
    assert "Created None" in text  # the article was made by code, not by an editor
    first, latest = article.history.earliest(), article.history.latest()
    for version in (first, latest):
        version_url = admin_url(Article, "simple_history", article.pk, version.history_id)
        assert f'href="{version_url}"' in response.text


@pytest.fixture
def viewer(client):
    """A staff account that may view articles but not change them."""
    user = get_user_model().objects.create_user("viewer", password="a-long-password")
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_article"))
    client.force_login(user)
    return client


def test_the_history_needs_the_permission_to_change(viewer, admin_client, make_article):
    article = make_article(title="Sleep and mood")
    version = article.history.get()
    version_url = admin_url(Article, "simple_history", article.pk, version.history_id)
    # What the Revert form would post, were it offered: simple-history only hides the button.
    revert = form_data(admin_client.get(version_url), "historicalarticle_form")
    assert viewer.get(admin_url(Article, "change", article.pk)).status_code == HTTPStatus.OK

    history = viewer.get(admin_url(Article, "history", article.pk))
    version_page = viewer.get(version_url)
    posted = viewer.post(version_url, {**revert, "title": "Defaced"})

    assert history.status_code == HTTPStatus.FORBIDDEN
    assert version_page.status_code == HTTPStatus.FORBIDDEN
    assert posted.status_code == HTTPStatus.FORBIDDEN
    article.refresh_from_db()
    assert article.title == "Sleep and mood"
    assert article.history.count() == 1


def test_editors_with_the_permission_to_change_see_the_history_and_may_revert(client, make_article):
    user = get_user_model().objects.create_user("editor", password="a-long-password")
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="change_article"))
    client.force_login(user)
    article = make_article()
    version = article.history.get()

    history = client.get(admin_url(Article, "history", article.pk))
    version_page = client.get(admin_url(Article, "simple_history", article.pk, version.history_id))

    assert history.status_code == HTTPStatus.OK
    assert version_page.status_code == HTTPStatus.OK
    assertContains(
        version_page, '<input type="submit" value="Revert" class="default" name="_save">', html=True
    )


def test_records_written_before_the_history_began_get_a_first_version(make_article):
    article = make_article(title="Sleep and mood")
    notice = CrisisNotice.objects.create(text="Call someone.")
    Article.history.all().delete()
    CrisisNotice.history.all().delete()

    history_migration.record_what_exists(apps, schema_editor=None)

    assert article.history.get().title == "Sleep and mood"
    assert notice.history.get().text == "Call someone."
    for obj in (article, notice):
        version = obj.history.get()
        assert (version.history_type, version.history_user) == ("+", None)
        assert version.history_change_reason == "As it stood when the history began"
