import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from articles.models import Article, Disclaimer, LegalStatement, Reference

pytestmark = pytest.mark.django_db

ONE_SECOND = datetime.timedelta(seconds=1)


def test_published_includes_an_article_published_exactly_now(make_article, now):
    article = make_article(published_at=now)
    assert list(Article.objects.published(at=now)) == [article]


def test_published_excludes_an_article_scheduled_one_second_ahead(make_article, now):
    make_article(published_at=now + ONE_SECOND)
    assert not Article.objects.published(at=now).exists()


def test_scheduled_article_appears_once_its_time_has_come(make_article, now):
    article = make_article(published_at=now + ONE_SECOND)
    assert list(Article.objects.published(at=now + ONE_SECOND)) == [article]


def test_published_excludes_drafts_even_with_a_past_date(make_article, now):
    make_article(status=Article.Status.DRAFT, published_at=now - ONE_SECOND)
    assert not Article.objects.published(at=now).exists()


def test_slug_is_made_from_the_title(make_article):
    article = make_article(title="Rejection While Depressed: Why It’s So Painful")
    assert article.slug == "rejection-while-depressed-why-its-so-painful"


def test_two_articles_with_one_title_get_distinct_slugs(make_article):
    first = make_article(title="Sleep and mood")
    second = make_article(title="Sleep and mood")
    assert (first.slug, second.slug) == ("sleep-and-mood", "sleep-and-mood-2")


def test_database_rejects_a_duplicate_slug(make_article):
    make_article(slug="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_article(slug="same")


def test_database_rejects_a_published_article_without_a_date(make_article):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_article(status=Article.Status.PUBLISHED, published_at=None)


def test_clean_dates_an_undated_article_marked_published(now):
    article = Article(title="T", slug="t", summary="S", body="B", status="published")
    article.full_clean()
    assert article.published_at >= now


def test_a_reference_link_must_be_http_or_https(make_article):
    reference = Reference(article=make_article(), title="T", url="javascript:alert(1)")
    with pytest.raises(ValidationError) as excinfo:
        reference.full_clean()
    assert "url" in excinfo.value.message_dict


@pytest.mark.parametrize("url", ["http://example.org/study", "https://example.org/study"])
def test_a_reference_link_accepts_web_links(make_article, url):
    Reference(article=make_article(), title="T", url=url).full_clean()


def test_photo_credit_url_rejects_data_urls():
    article = Article(
        title="T", slug="t", summary="S", body="B", photo_credit_url="data:text/html,hi"
    )
    with pytest.raises(ValidationError) as excinfo:
        article.full_clean()
    assert "photo_credit_url" in excinfo.value.message_dict


def test_an_image_needs_alt_text():
    image = SimpleUploadedFile("photo.gif", b"GIF89a", content_type="image/gif")
    article = Article(title="T", slug="t", summary="S", body="B", image=image)
    with pytest.raises(ValidationError) as excinfo:
        article.clean()
    assert "image_alt" in excinfo.value.message_dict


def test_database_rejects_an_image_without_alt_text(make_article):
    article = make_article()
    with pytest.raises(IntegrityError), transaction.atomic():
        Article.objects.filter(pk=article.pk).update(image="articles/photo.jpg", image_alt="")


def test_body_is_rendered_to_html_when_saved(make_article):
    article = make_article(body="## Findings\n\n1. one\n2. two")
    assert '<h2 id="section-findings">Findings</h2>' in article.body_html
    assert "<ol>" in article.body_html


def test_article_falls_back_to_the_site_default_disclaimer(make_article, default_disclaimer):
    assert make_article().get_disclaimer() == default_disclaimer


def test_article_uses_its_own_disclaimer_over_the_default(make_article, default_disclaimer):
    own = Disclaimer.objects.create(name="Drugs", text="Ask your pharmacist.")
    assert make_article(disclaimer=own).get_disclaimer() == own


def test_database_allows_only_one_default_disclaimer(default_disclaimer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Disclaimer.objects.create(name="Other", text="x", is_default=True)


def test_database_keeps_a_single_legal_statement():
    LegalStatement.objects.create(body="First")
    with pytest.raises(IntegrityError), transaction.atomic():
        LegalStatement.objects.create(body="Second")
    assert LegalStatement.objects.get().body == "First"


def test_absolute_urls_are_relative_paths(make_article, topic):
    article = make_article(slug="a-slug", topic=topic)
    assert article.get_absolute_url() == "/articles/a-slug/"
    assert topic.get_absolute_url() == "/topics/depression/"
