"""Fixtures shared by every test: a clean cache, plain static files, and article builders."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from articles.models import Article, Disclaimer, Topic


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine} ({db.get('HOST') or db['NAME']}); cache: {cache}"


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgresql` run on the PostgreSQL pass and are skipped on SQLite only."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL; runs on the PostgreSQL pass of make test")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache():
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Serve static files by their plain names: tests do not run collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def make_article(db):
    """Build a saved article; published a minute ago unless told otherwise."""
    counter = iter(range(1, 10_000))

    def make(**fields):
        n = next(counter)
        fields.setdefault("title", f"Article {n}")
        fields.setdefault("summary", f"Summary of article {n}.")
        fields.setdefault("body", f"Body of article {n}.")
        fields.setdefault("status", Article.Status.PUBLISHED)
        if fields["status"] == Article.Status.PUBLISHED:
            fields.setdefault("published_at", timezone.now() - datetime.timedelta(minutes=1))
        return Article.objects.create(**fields)

    return make


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Depression", slug="depression")


@pytest.fixture
def default_disclaimer(db):
    return Disclaimer.objects.create(
        name="Medical", text="This does not replace your doctor.", is_default=True
    )


@pytest.fixture
def make_poll(db):
    """Build a saved, open poll with three choices (in staff order), unless told otherwise."""
    from polls.models import Poll

    counter = iter(range(1, 10_000))

    def make(choices=("Yes, currently", "Yes, in the past", "No, never"), **fields):
        n = next(counter)
        fields.setdefault("question", f"Question {n}?")
        fields.setdefault("slug", f"poll-{n}")
        fields.setdefault("opens_at", timezone.now() - datetime.timedelta(days=1))
        poll = Poll.objects.create(**fields)
        for order, text in enumerate(choices, start=1):
            poll.choices.create(text=text, order=order)
        return Poll.objects.with_choices().get(pk=poll.pk)

    return make


@pytest.fixture
def poll(make_poll):
    return make_poll(slug="antidepressants", question="Are you taking anti-depressants?")
