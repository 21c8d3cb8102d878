"""Data migrations of the articles app."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

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


@pytest.mark.django_db(transaction=True)
def test_an_articles_source_line_becomes_its_first_reference():
    executor = MigrationExecutor(connection)
    before, after = (
        [("articles", "0004_contributors_reviews_crisis_notice")],
        [("articles", "0005_references")],
    )
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    OldArticle = old_apps.get_model("articles", "Article")
    OldArticle.objects.create(
        title="T", slug="t", summary="S", body="B", body_html="<p>B</p>",
        source_name="BBRF", source_url="https://bbrf.example/",
    )  # fmt: skip
    OldArticle.objects.create(title="U", slug="u", summary="S", body="B", body_html="<p>B</p>")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new_apps = executor.loader.project_state(after).apps
    Reference = new_apps.get_model("articles", "Reference")
    assert list(Reference.objects.values_list("article__slug", "order", "title", "url")) == [
        ("t", 1, "BBRF", "https://bbrf.example/")
    ]

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_a_later_migration_can_rebuild_the_article_table_on_any_database():
    """The search index lives outside the model state (0010): SQLite rebuilds a table for most
    changes, re-creating the state's indexes, and cannot build a to_tsvector() index."""
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(executor.loader.graph.leaf_nodes())
    assert "article_search" not in [
        i.name for i in state.models["articles", "article"].options.get("indexes", [])
    ]
    article = state.apps.get_model("articles", "Article")
    old = article._meta.get_field("summary")
    new = type(old)(max_length=old.max_length + 1, blank=old.blank, default="")
    new.set_attributes_from_name("summary")
    new.model = article
    with connection.schema_editor() as editor:  # SQLite: a whole new table, copied across
        editor.alter_field(article, old, new)
    with connection.schema_editor() as editor:
        editor.alter_field(article, new, old)
