"""Fixtures for the tests beyond one machine: a primary with a streaming replica, PgBouncer.

Each is made once per test session, on ports of its own, and removed at its end, even when a
test fails. Without root or Debian's PostgreSQL server (or without pgbouncer) the tests that use
them are skipped with the reason; REQUIRE_REPLICA=1 makes them fail instead.
"""

import itertools

import pytest

from tests.psyweb.test_settings import run_django
from tests.psyweb.test_timeouts import serve  # noqa: F401 - a fixture: gunicorn, one worker

from .clusters import (
    PgBouncer,
    ReplicatedDatabase,
    find_pgbouncer,
    missing_requirement,
    unavailable,
)


@pytest.fixture(scope="session")
def replicated_database():
    """A primary cluster with the site's migrated database, and a streaming replica of it."""
    reason = missing_requirement()
    if reason:
        unavailable(reason)
    database = ReplicatedDatabase()
    try:
        database.start()
        yield database
    finally:
        database.stop()


@pytest.fixture(scope="session")
def pgbouncer(replicated_database):
    """PgBouncer in transaction mode: `psyweb` is the primary, `psyweb_replica` the replica."""
    if find_pgbouncer() is None:
        unavailable("needs Debian's pgbouncer (apt-get install pgbouncer)")
    bouncer = PgBouncer(
        {
            "psyweb": (replicated_database.primary.port, "psyweb"),
            "psyweb_replica": (replicated_database.replica.port, "psyweb"),
        }
    )
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()


@pytest.fixture
def site(serve, replicated_database, tmp_path):  # noqa: F811 - serve is the imported fixture
    """site(**env): gunicorn (one worker) on the primary and its replica, with these settings."""

    def start(**env):
        cache = f"filecache://{tmp_path / 'cache'}"
        return serve(**replicated_database.site_env(CACHE_URL=cache, **env))

    return start


_slugs = itertools.count(1)


@pytest.fixture
def open_poll(replicated_database):
    """A new open poll with two answers, on the primary and replayed on the replica.

    Made by the site's own models in a process of its own: (slug, [choice ids]).
    """
    slug = f"replica-poll-{next(_slugs)}"
    result = run_django(
        "import datetime\n"
        "from django.utils import timezone\n"
        "from polls.models import Poll\n"
        f"poll = Poll.objects.create(question='Do you sleep well?', slug={slug!r},\n"
        "    opens_at=timezone.now() - datetime.timedelta(days=1))\n"
        "print(poll.choices.create(text='Yes', order=1).pk)\n"
        "print(poll.choices.create(text='No', order=2).pk)\n",
        **replicated_database.site_env(replicas=False),
    )
    assert result.returncode == 0, result.stderr
    replicated_database.wait_for_replay()
    return slug, [int(pk) for pk in result.stdout.split()]
