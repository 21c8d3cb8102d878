import datetime
import io
import re
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from pytest_django.asserts import assertContains

from articles.models import Article, Disclaimer, LegalStatement

pytestmark = pytest.mark.django_db


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def legal(db):
    return LegalStatement.objects.create(body="## Terms\n\nUse this site wisely.")


# Home page


def test_home_lists_published_articles_newest_first(client, make_article, now):
    make_article(title="Older", published_at=now - datetime.timedelta(days=2))
    make_article(title="Newer", published_at=now - datetime.timedelta(days=1))
    response = client.get(reverse("articles:index"))
    assert response.status_code == HTTPStatus.OK
    assert [a.title for a in response.context["article_list"]] == ["Newer", "Older"]


def test_home_hides_drafts_and_scheduled_articles(client, make_article, now):
    make_article(title="Visible")
    make_article(title="A draft", status=Article.Status.DRAFT)
    make_article(title="Tomorrow", published_at=now + datetime.timedelta(days=1))
    response = client.get(reverse("articles:index"))
    assert [a.title for a in response.context["article_list"]] == ["Visible"]
    assert "A draft" not in response.text
    assert "Tomorrow" not in response.text


def test_home_is_paginated(client, make_article, settings):
    for _ in range(settings.ARTICLES_PER_PAGE + 1):
        make_article()
    first = client.get(reverse("articles:index"))
    second = client.get(reverse("articles:index"), {"page": 2})
    assert len(first.context["article_list"]) == settings.ARTICLES_PER_PAGE
    assert len(second.context["article_list"]) == 1
    assert 'href="?page=2" rel="next">Next page</a>' in first.text


@pytest.mark.parametrize("page", ["99", "abc", "-1", "0"])
def test_a_page_number_out_of_range_is_not_found(client, make_article, page):
    make_article()
    response = client.get(reverse("articles:index"), {"page": page})
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_home_query_count_does_not_grow_with_articles(
    client, make_article, topic, django_assert_max_num_queries
):
    for _ in range(8):
        make_article(topic=topic)
    # the page of articles, their count, the featured poll (none here), the header's topics
    with django_assert_max_num_queries(4):
        client.get(reverse("articles:index"))


# Article page


def test_article_page_shows_everything_the_seed_page_shows(
    client, make_article, default_disclaimer
):
    article = make_article(
        title="Rejection While Depressed",
        body="Intro.\n\n## Natural Opioids\n\n1. First finding",
        photo_credit="Luis Sarabia / flickr creative commons",
    )
    article.references.create(title="Brain Behavior Research Foundation", order=1)
    response = client.get(article.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    assert "<h1" in response.text
    assert "Rejection While Depressed</h1>" in response.text
    assert '<h2 id="section-natural-opioids">Natural Opioids</h2>' in response.text
    assert "<li>First finding</li>" in response.text
    assertContains(
        response,
        '<p class="article-source">Source: Brain Behavior Research Foundation</p>',
        html=True,
    )
    assert "Photo credit:\n          Luis Sarabia / flickr creative commons" in response.text
    assert default_disclaimer.text in response.text
    assert f'<a href="{reverse("articles:legal")}">Legal Statement</a>' in response.text
    # A valid HTML datetime: whole seconds (at most 3 decimals are allowed) and an offset.
    assert f'datetime="{article.published_at:%Y-%m-%dT%H:%M:%S+0000}"' in response.text


def test_article_links_its_source_and_credit_when_they_have_urls(client, make_article):
    article = make_article(
        photo_credit="Luis Sarabia",
        photo_credit_url="https://photos.example/luis",
        photo_licence="CC BY 2.0",
    )
    article.references.create(title="BBRF", url="https://bbrfoundation.example/news")
    response = client.get(article.get_absolute_url())
    assert '<a href="https://bbrfoundation.example/news" rel="noopener noreferrer">BBRF</a>' in (
        response.text
    )
    assert (
        'href="https://photos.example/luis" rel="noopener noreferrer">Luis Sarabia</a>, CC BY 2.0'
        in (response.text)
    )


def test_article_shows_its_own_disclaimer(client, make_article, default_disclaimer):
    own = Disclaimer.objects.create(name="Drugs", text="Never stop a medicine on your own.")
    response = client.get(make_article(disclaimer=own).get_absolute_url())
    assert own.text in response.text
    assert default_disclaimer.text not in response.text


def test_article_page_escapes_what_staff_typed_in_plain_fields(client, make_article):
    article = make_article(title="<script>alert(1)</script>")
    article.references.create(title='"><img src=x onerror=alert(1)>')
    response = client.get(article.get_absolute_url())
    assert "<script>alert(1)" not in response.text
    assert "<img src=x" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def png_upload(width=64, height=48):
    image = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(image, format="PNG")
    return SimpleUploadedFile("brain.png", image.getvalue(), content_type="image/png")


def test_article_image_is_shown_with_its_alt_text_and_size(client, make_article, media_root):
    article = make_article(image=png_upload(), image_alt="A PET scan of a brain")
    response = client.get(article.get_absolute_url())
    img = re.search(r"<img [^>]+>", response.text.split("article-image")[1])[0]
    assert 'alt="A PET scan of a brain"' in img
    assert 'width="64" height="48"' in img


def test_article_page_survives_a_missing_image_file(client, make_article, media_root):
    article = make_article(image=png_upload(), image_alt="Lost")
    (media_root / article.image.name).unlink()
    assert client.get(article.get_absolute_url()).status_code == HTTPStatus.OK


def test_article_query_count_is_pinned(
    client, make_article, topic, default_disclaimer, django_assert_max_num_queries
):
    article = make_article(topic=topic, disclaimer=default_disclaimer)
    # the article with its topic, disclaimer and people, its references, the featured poll,
    # the related articles, the header's topics
    with django_assert_max_num_queries(5):
        client.get(article.get_absolute_url())


def test_unknown_article_gets_the_sites_own_404_page(client):
    response = client.get(reverse("articles:detail", kwargs={"slug": "no-such-article"}))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text
    assert 'aria-label="Main"' in response.text
    assert "PsyWeb" in response.text


@pytest.mark.parametrize(
    ("status", "delay"),
    [(Article.Status.DRAFT, None), (Article.Status.PUBLISHED, datetime.timedelta(hours=1))],
)
def test_drafts_and_scheduled_articles_are_404_to_the_public(client, make_article, status, delay):
    published_at = timezone.now() + delay if delay else None
    article = make_article(status=status, published_at=published_at)
    assert client.get(article.get_absolute_url()).status_code == HTTPStatus.NOT_FOUND


def test_staff_can_preview_a_draft(admin_client, make_article):
    article = make_article(title="Work in progress", status=Article.Status.DRAFT)
    response = admin_client.get(article.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    assert "Work in progress</h1>" in response.text
    assert "This article is a draft." in response.text


def test_staff_see_when_a_scheduled_article_will_appear(admin_client, make_article):
    when = timezone.now() + datetime.timedelta(days=3)
    article = make_article(published_at=when)
    response = admin_client.get(article.get_absolute_url())
    assert "This article is scheduled for" in response.text


def test_readers_see_no_preview_banner(client, make_article):
    response = client.get(make_article().get_absolute_url())
    assert "Preview." not in response.text


def test_post_to_an_article_is_method_not_allowed_with_the_sites_page(client, make_article):
    response = client.post(make_article().get_absolute_url())
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "GET, HEAD"
    assert "This page cannot do that" in response.text
    assert int(response["Content-Length"]) == len(response.content)


# Topic pages


def test_topic_page_lists_only_its_published_articles(client, make_article, topic):
    make_article(title="On topic", topic=topic)
    make_article(title="Elsewhere")
    make_article(title="Unpublished", topic=topic, status=Article.Status.DRAFT)
    response = client.get(topic.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    assert [a.title for a in response.context["article_list"]] == ["On topic"]
    assert "Depression</h1>" in response.text


def test_unknown_topic_is_not_found(client):
    response = client.get(reverse("articles:topic", kwargs={"slug": "nope"}))
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_topic_query_count_is_pinned(client, make_article, topic, django_assert_max_num_queries):
    for _ in range(5):
        make_article(topic=topic)
    # the topic, its page of articles, their count, the featured poll (none here), the
    # header's topics
    with django_assert_max_num_queries(5):
        client.get(topic.get_absolute_url())


# Legal Statement


def test_legal_statement_page_renders_its_markdown(client, legal):
    response = client.get(reverse("articles:legal"))
    assert response.status_code == HTTPStatus.OK
    assert "Legal Statement</h1>" in response.text
    assert '<h2 id="section-terms">Terms</h2>' in response.text


def test_legal_statement_is_404_until_staff_write_one(client):
    assert client.get(reverse("articles:legal")).status_code == HTTPStatus.NOT_FOUND


def test_post_to_the_legal_statement_is_method_not_allowed(client, legal):
    assert client.post(reverse("articles:legal")).status_code == HTTPStatus.METHOD_NOT_ALLOWED


# Page layout and accessibility


def test_pages_have_language_skip_link_and_landmarks(client, make_article):
    response = client.get(make_article().get_absolute_url())
    text = response.text
    assert '<html lang="en">' in text
    assert '<a class="skip-link" href="#main-content">' in text
    assert '<main id="main-content"' in text
    assert "<header" in text
    assert '<nav aria-label="Main">' in text
    assert "<footer" in text


def test_pages_load_nothing_from_another_origin(client, make_article):
    response = client.get(make_article().get_absolute_url())
    assert "default-src 'self'" in response["Content-Security-Policy"]
    # Absolute addresses only in links and in data for crawlers and sharing previews (the
    # <meta> content and the JSON-LD), which the browser loads nothing from.
    text = re.sub(
        r'<script type="application/ld\+json">.*?</script>', "", response.text, flags=re.S
    )
    assert "http://" not in text.replace('href="http', "").replace('content="http', "")
    scripts = re.findall(r"<script\b[^>]*>", response.text)
    assert scripts == [
        '<script src="/static/js/polls.js" defer>',  # the site's own, no inline script
        '<script type="application/ld+json">',  # data, never run
    ]


# Feed and sitemap


def test_feed_lists_published_articles_only(client, make_article):
    make_article(title="Out now", summary="What it says.")
    make_article(title="Not yet", status=Article.Status.DRAFT)
    response = client.get(reverse("articles:feed"))
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("application/rss+xml")
    assert "<title>Out now</title>" in response.text
    assert "What it says." in response.text
    assert "Not yet" not in response.text


def test_sitemap_lists_published_articles_and_their_topics(client, make_article, topic):
    public = make_article(topic=topic)
    draft = make_article(status=Article.Status.DRAFT)
    response = client.get("/sitemap.xml")
    assert response.status_code == HTTPStatus.OK
    assert f"http://testserver{public.get_absolute_url()}</loc>" in response.text
    assert f"http://testserver{topic.get_absolute_url()}</loc>" in response.text
    assert draft.get_absolute_url() not in response.text


def test_staff_without_the_permission_to_change_articles_cannot_preview(
    client, django_user_model, make_article
):
    draft = make_article(status=Article.Status.DRAFT)
    client.force_login(django_user_model.objects.create_user("helper", is_staff=True))

    response = client.get(draft.get_absolute_url())

    assert response.status_code == HTTPStatus.NOT_FOUND


def test_admin_pages_are_never_stored_by_a_cache(admin_client):
    response = admin_client.get(reverse("admin:articles_article_changelist"))
    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_the_lead_image_comes_in_several_sizes_with_caption_and_credit_beside_it(
    client, make_article, media_root
):
    article = make_article(
        image=png_upload(2000, 1000),
        image_alt="A brain scan",
        image_caption="Activity in a brain at rest.",
        photo_credit="Luis Sarabia",
    )
    page = client.get(article.get_absolute_url()).text

    srcset = re.search(r'srcset="([^"]+)"', page)[1]
    widths = [entry.rsplit(" ", 1)[1] for entry in srcset.split(", ")]
    assert widths == ["480w", "960w", "1440w"]
    for entry in srcset.split(", "):
        url = entry.rsplit(" ", 1)[0]
        assert url.startswith("/media/")  # served by the site itself, never another origin
        assert (media_root / url.removeprefix("/media/")).is_file()
    assert 'width="2000" height="1000"' in page
    assert "<figcaption>" in page
    assert "Activity in a brain at rest." in page
    assert 'class="article-credit">Photo: Luis Sarabia' in page
    assert "Photo credit:" not in page  # not repeated in the footer


def test_a_small_image_is_not_enlarged(client, make_article, media_root):
    article = make_article(image=png_upload(300, 200), image_alt="Small")
    srcset = re.search(r'srcset="([^"]+)"', client.get(article.get_absolute_url()).text)[1]
    assert srcset.endswith(" 300w")
    assert srcset.count("w") == 1


def test_lists_show_a_thumbnail_of_the_lead_image(client, make_article, media_root):
    make_article(title="With a photo", image=png_upload(800, 600), image_alt="A photo")
    make_article(title="Without")
    page = client.get("/").text
    assert page.count('class="card-thumbnail"') == 1
    thumbnail = re.search(r'class="card-thumbnail" src="([^"]+)"', page)[1]
    assert (media_root / thumbnail.removeprefix("/media/")).is_file()
