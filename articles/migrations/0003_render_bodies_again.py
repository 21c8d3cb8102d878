"""Render every stored body again with today's sanitizer.

body_html is derived from body when staff save; bodies saved before the sanitizer stopped
staff Markdown from setting element ids (`{: #main-content }`, raw `<h2 id=…>`) still carry
such ids until this runs. Running it again changes nothing.
"""

from django.db import migrations

from articles.markup import render_markdown


def render_again(apps, schema_editor):
    for model_name in ("Article", "LegalStatement"):
        model = apps.get_model("articles", model_name)
        for pk, body in model.objects.values_list("pk", "body").iterator():
            model.objects.filter(pk=pk).update(body_html=render_markdown(body))


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0002_article_poll"),
    ]

    operations = [
        migrations.RunPython(render_again, migrations.RunPython.noop, elidable=True),
    ]
