from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.urls import reverse

from articles.models import Article, Disclaimer, LegalStatement

pytestmark = pytest.mark.django_db


def counts():
    return (
        Article.objects.count(),
        Disclaimer.objects.count(),
        LegalStatement.objects.count(),
    )


def test_load_demo_publishes_the_seed_article(client):
    call_command("load_demo", verbosity=0)
    article = Article.objects.published().get()
    response = client.get(article.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert "Rejection While Depressed: Why It’s So Painful</h1>" in text
    assert (
        '<h2 id="section-natural-opioids-and-depression">Natural Opioids and Depression</h2>'
        in text
    )
    assert '<h2 id="section-less-social-motivation">Less Social Motivation</h2>' in text
    assert "<li>Only the non-depressed participants had an increased desire" in text
    assert "<blockquote>\n<p>“Altered opioid activity in depression" in text
    assert "Brain Behavior Research Foundation" in text
    assert "Luis Sarabia / flickr creative commons" in text
    assert "does not constitute the practice of medicine" in text
    assert f'<a href="{reverse("articles:legal")}">Legal Statement</a>' in text


def test_load_demo_makes_the_seed_disclaimer_the_site_default():
    call_command("load_demo", verbosity=0)
    assert "does not replace the advice of your physician" in Disclaimer.objects.default().text


def test_load_demo_writes_the_legal_statement(client):
    call_command("load_demo", verbosity=0)
    response = client.get(reverse("articles:legal"))
    assert response.status_code == HTTPStatus.OK
    assert "Legal Statement</h1>" in response.text


def test_load_demo_twice_changes_nothing():
    call_command("load_demo", verbosity=0)
    first = counts()
    article = Article.objects.get()
    call_command("load_demo", verbosity=0)
    assert counts() == first == (1, 1, 1)
    assert Article.objects.get().published_at == article.published_at


def test_load_demo_keeps_what_staff_edited():
    call_command("load_demo", verbosity=0)
    Article.objects.update(title="Edited by staff")
    call_command("load_demo", verbosity=0)
    assert Article.objects.get().title == "Edited by staff"


def test_load_demo_leaves_an_existing_default_disclaimer_in_place(default_disclaimer):
    call_command("load_demo", verbosity=0)
    assert Disclaimer.objects.default() == default_disclaimer
