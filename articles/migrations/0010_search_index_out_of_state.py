"""Take the full-text search index out of the model's state; on PostgreSQL it stays in place.

Migration 0009 put the GIN index in the state of Article (and in PostgreSQL only). SQLite cannot
build an index over to_tsvector(), and it rebuilds a table for most changes to it (a column with
a default, a constraint …), re-creating every index of the state: the next such migration would
fail on SQLite. The index is now the database's business alone: 0009 makes it on PostgreSQL,
and the search's EXPLAIN test (tests/articles/test_search.py) checks it is used.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0009_search_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="article", name="article_search")],
        ),
    ]
