import io
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from articles.markup import render_markdown
from articles.models import Article, BodyImage, Disclaimer, LegalStatement, Topic

from .utils import references_formset

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(make_article, topic, default_disclaimer):
    return {
        Article: make_article(topic=topic),
        Topic: topic,
        Disclaimer: default_disclaimer,
        LegalStatement: LegalStatement.objects.create(body="Terms."),
    }


MODELS = [Article, Topic, Disclaimer, LegalStatement]


def admin_url(model, action, *args):
    return reverse(f"admin:articles_{model._meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("model", MODELS)
def test_staff_see_the_changelist(admin_client, objects, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == HTTPStatus.OK


@pytest.mark.parametrize("model", MODELS)
def test_staff_see_the_change_form(admin_client, objects, model):
    url = admin_url(model, "change", objects[model].pk)
    assert admin_client.get(url).status_code == HTTPStatus.OK


@pytest.mark.parametrize("model", [Article, Topic, Disclaimer])
def test_staff_see_the_add_form(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == HTTPStatus.OK


def test_a_second_legal_statement_cannot_be_added(admin_client, objects):
    response = admin_client.get(admin_url(LegalStatement, "add"))
    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("model", MODELS)
def test_anonymous_users_are_sent_to_the_login_page(client, model):
    response = client.get(admin_url(model, "changelist"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_article_changelist_filters_and_searches(admin_client, make_article):
    make_article(title="Sleep and mood")
    make_article(title="Anxiety at work", status=Article.Status.DRAFT)
    url = admin_url(Article, "changelist")
    drafts = admin_client.get(url, {"status__exact": "draft"})
    assert list(drafts.context["cl"].result_list.values_list("title", flat=True)) == [
        "Anxiety at work"
    ]
    found = admin_client.get(url, {"q": "sleep"})
    assert list(found.context["cl"].result_list.values_list("title", flat=True)) == [
        "Sleep and mood"
    ]


def test_staff_write_an_article_as_a_draft_then_publish_it(admin_client, admin_user, topic):
    response = admin_client.post(
        admin_url(Article, "add"),
        {
            "title": "Sleep and mood",
            "slug": "sleep-and-mood",
            "summary": "How sleep shapes mood.",
            "body": "## Why\n\nBecause.",
            "topic": topic.pk,
            "status": "draft",
            **references_formset(),
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].errors
    article = Article.objects.get(slug="sleep-and-mood")
    assert article.created_by == admin_user
    assert not Article.objects.published().exists()

    change_page = admin_client.get(admin_url(Article, "change", article.pk))
    assert f'href="{article.get_absolute_url()}" target="_blank"' in change_page.text
    assert "section-why" not in change_page.text  # no rendered body dressed as admin headings

    admin_client.post(
        admin_url(Article, "changelist"),
        {"action": "publish", "_selected_action": [article.pk]},
    )
    article.refresh_from_db()
    assert article.status == Article.Status.PUBLISHED
    assert list(Article.objects.published()) == [article]


def test_publish_action_keeps_a_scheduled_date(admin_client, make_article, now):
    scheduled = now.replace(year=now.year + 1)
    article = make_article(status=Article.Status.DRAFT, published_at=scheduled)
    admin_client.post(
        admin_url(Article, "changelist"),
        {"action": "publish", "_selected_action": [article.pk]},
    )
    article.refresh_from_db()
    assert (article.status, article.published_at) == (Article.Status.PUBLISHED, scheduled)
    assert not Article.objects.published().exists()


def test_unpublish_action_takes_an_article_off_the_site(admin_client, client, make_article):
    article = make_article()
    admin_client.post(
        admin_url(Article, "changelist"),
        {"action": "unpublish", "_selected_action": [article.pk]},
    )
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT
    assert client.get(article.get_absolute_url()).status_code == HTTPStatus.NOT_FOUND


# Text as it comes from Word and other editors: a vertical tab for a line break, a form feed,
# the odd NUL and other control characters. What staff meant is the text without them.
PASTED_TEXT = {
    Article: (
        {
            "title": "Sleep\x0band mood\x00",
            "slug": "sleep-and-mood",
            "summary": "How sleep\x0cshapes\x01 mood.",
            "body": "## Why\x7f\n\nBecause\x0bit\x1b helps.",
            "image_alt": "A\x9f bed",
            "photo_credit": "The\x0bLancet\x08",
            "status": "draft",
        },
        {
            "title": "Sleep and mood",
            "summary": "How sleep shapes mood.",
            "body": "## Why\n\nBecause it helps.",
            "image_alt": "A bed",
            "photo_credit": "The Lancet",
        },
    ),
    Topic: (
        {"name": "Sleep\x0bproblems\x00", "slug": "sleep", "description": "Rest\x01."},
        {"name": "Sleep problems", "description": "Rest."},
    ),
    Disclaimer: (
        {"name": "Medical\x1f", "text": "Not\x0ba\x00 diagnosis.\x85See a doctor."},
        {"name": "Medical", "text": "Not a diagnosis. See a doctor."},
    ),
    LegalStatement: (
        {"title": "Legal\x0cStatement", "body": "## Terms\x00\n\nBe\x0bkind."},
        {"title": "Legal Statement", "body": "## Terms\n\nBe kind."},
    ),
}


@pytest.mark.parametrize("model", PASTED_TEXT)
def test_text_pasted_with_control_characters_is_saved_without_them(admin_client, model):
    posted, expected = PASTED_TEXT[model]
    if model is Article:
        posted = {**posted, **references_formset()}
    response = admin_client.post(admin_url(model, "add"), posted)
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].errors
    saved = model.objects.get()
    assert {field: getattr(saved, field) for field in expected} == expected


def test_admin_rejects_a_javascript_reference_link(admin_client):
    response = admin_client.post(
        admin_url(Article, "add"),
        {
            "title": "T",
            "slug": "t",
            "summary": "S",
            "body": "B",
            "status": "draft",
            **references_formset({"title": "Bad", "url": "javascript:alert(document.cookie)"}),
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert "url" in response.context["inline_admin_formsets"][0].formset.errors[0]
    assert not Article.objects.exists()


def test_admin_prefills_the_slug_from_the_title(admin_client):
    response = admin_client.get(admin_url(Article, "add"))
    assert (
        "&quot;id&quot;: &quot;#id_slug&quot;, &quot;name&quot;: &quot;slug&quot;, "
        "&quot;dependency_ids&quot;: [&quot;#id_title&quot;]"
    ) in response.text


def test_admin_offers_view_on_site(admin_client, make_article):
    article = make_article()
    response = admin_client.get(admin_url(Article, "change", article.pk))
    assert "View on site" in response.text


def test_the_editor_is_told_what_the_sanitizer_took_out_of_the_body(admin_client):
    response = admin_client.post(
        admin_url(Article, "add"),
        {
            "title": "T",
            "slug": "t",
            "summary": "S",
            "body": "Hi <script>alert(1)</script> ![x](https://other.example/p.png) "
            "[bad](javascript:alert(1)) [good](https://ok.example/)",
            "status": "draft",
            **references_formset(),
        },
        follow=True,
    )
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1
    assert "1 script(s)" in warnings[0]
    assert "1 image(s) from another site: upload them under Body images" in warnings[0]
    assert "1 link(s) that were not http, https or mailto" in warnings[0]
    assert "ok.example" not in warnings[0]


def test_a_clean_body_brings_no_warning(admin_client):
    response = admin_client.post(
        admin_url(Article, "add"),
        {
            "title": "T",
            "slug": "t",
            "summary": "S",
            "body": "## Hello\n\nA [link](https://ok.example/) and https://bare.example/.",
            "status": "draft",
            **references_formset(),
        },
        follow=True,
    )
    assert not [m for m in response.context["messages"] if m.level_tag == "warning"]


def test_an_upload_sent_with_another_error_is_asked_for_again(admin_client, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(image, format="PNG")
    response = admin_client.post(
        admin_url(Article, "add"),
        {
            "title": "T",
            "slug": "",  # the other error
            "summary": "S",
            "body": "B",
            "status": "draft",
            "image": SimpleUploadedFile("photo.png", image.getvalue(), content_type="image/png"),
            "image_alt": "A photo",
            **references_formset(),
        },
    )
    assert response.status_code == HTTPStatus.OK
    errors = response.context["adminform"].form.errors
    assert "slug" in errors
    assert errors["image"] == [
        "The form has an error, so the image you chose was not kept: choose it again."
    ]


def test_an_uploaded_body_image_gives_the_markdown_to_paste(admin_client, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(image, format="PNG")
    response = admin_client.post(
        admin_url(BodyImage, "add"),
        {
            "image": SimpleUploadedFile("scan.png", image.getvalue(), content_type="image/png"),
            "alt_text": "A [brain] scan",
        },
        follow=True,
    )
    body_image = BodyImage.objects.get()
    assert body_image.markdown() == rf"![A \[brain\] scan]({body_image.image.url})"
    assert f"<code>{body_image.markdown()}</code>" in response.text  # the list, to copy
    html = render_markdown(body_image.markdown())
    assert f'src="{body_image.image.url}"' in html
    assert 'alt="A [brain] scan"' in html


def test_a_body_image_needs_alt_text(admin_client, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(image, format="PNG")
    response = admin_client.post(
        admin_url(BodyImage, "add"),
        {"image": SimpleUploadedFile("scan.png", image.getvalue(), content_type="image/png")},
    )
    assert "alt_text" in response.context["adminform"].form.errors
    assert not BodyImage.objects.exists()
