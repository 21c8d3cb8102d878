"""Data migrations of the articles app."""

import importlib

import pytest
from django.apps import apps

from articles.models import Article

pytestmark = pytest.mark.django_db

render_bodies_again = importlib.import_module("articles.migrations.0003_render_bodies_again")


def test_bodies_saved_before_the_id_rules_are_rendered_again(make_article):
    article = make_article(body="## Help {: #main-content }\n\nText.")
    stale = '<h2 id="main-content">Help</h2>\n<p>Text.</p>'
    Article.objects.filter(pk=article.pk).update(body_html=stale)

    render_bodies_again.render_again(apps, schema_editor=None)

    article.refresh_from_db()
    assert 'id="main-content"' not in article.body_html
    assert 'id="section-help"' in article.body_html
