"""The site through PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer), primary and
replica both behind it: real clusters and Debian's pgbouncer (clusters.py)."""

import json
import time
from http import HTTPStatus

import pytest

from tests.psyweb.test_settings import run_django

from .visitors import Visitor

pytestmark = pytest.mark.postgresql


def test_the_site_serves_pages_and_counts_votes_through_pgbouncer(
    replicated_database, pgbouncer, open_poll, serve, tmp_path
):
    slug, (yes, _) = open_poll
    server = serve(
        **replicated_database.site_env(
            DATABASE_URL=pgbouncer.url("psyweb"),
            DATABASE_REPLICA_URLS=pgbouncer.url("psyweb_replica"),
            DATABASE_POOLER="pgbouncer",
            CACHE_URL=f"filecache://{tmp_path / 'cache'}",
        )
    )
    before = {name: pgbouncer.transactions(name) for name in ("psyweb", "psyweb_replica")}
    reader, voter = Visitor(server), Visitor(server)

    status, _, page = reader.request("GET", f"/polls/{slug}/")
    assert status == HTTPStatus.OK
    assert b"Do you sleep well?" in page
    assert voter.state(slug)["voted"] is False
    status, _, body = voter.vote(slug, yes)
    assert (status, body["voted"]) == (HTTPStatus.OK, True)
    assert voter.state(slug)["own_choices"] == [yes]
    status, _, health = server.request("GET", "/healthz")[:3]
    assert status == HTTPStatus.OK
    assert json.loads(health)["replicas"]["replica_1"]["state"] == "ok"

    counted = replicated_database.primary.value(
        "SELECT sum(votes) FROM polls_choiceslot WHERE choice_id = %s", [yes]
    )
    assert counted == 1
    # Both went through PgBouncer: reads to the replica's pool, the vote to the primary's.
    assert pgbouncer.transactions("psyweb_replica") > before["psyweb_replica"]
    assert pgbouncer.transactions("psyweb") > before["psyweb"]
    assert "ERROR" not in server.log()


def test_through_pgbouncer_a_stopped_replica_is_passed_over_and_used_again_once_back(
    replicated_database, pgbouncer, open_poll, serve, tmp_path
):
    # PgBouncer takes new connections whether its server is up or not, so this is not the
    # same as a stopped replica reached directly (test_replicas.py).
    slug, _ = open_poll
    server = serve(
        **replicated_database.site_env(
            DATABASE_URL=pgbouncer.url("psyweb"),
            DATABASE_REPLICA_URLS=pgbouncer.url("psyweb_replica"),
            DATABASE_POOLER="pgbouncer",
            CACHE_URL=f"filecache://{tmp_path / 'cache'}",
        )
    )
    reader = Visitor(server)
    reader.state(slug)  # a connection to PgBouncer's replica pool is kept

    with replicated_database.replica_stopped():
        started = time.monotonic()
        for _ in range(3):
            assert reader.state(slug)["voted"] is False  # 200 every time, never the 503 page
        # The first waits for PgBouncer to give up on the server (query_wait_timeout, 5 s).
        assert time.monotonic() - started < 8
        body = json.loads(server.request("GET", "/healthz")[2])
        assert body["replicas"]["replica_1"] == {"state": "unavailable"}

    def replica_reads():
        return replicated_database.replica.statement_calls('SELECT %FROM "polls_poll"%')

    before = replica_reads()
    deadline = time.monotonic() + 30  # PgBouncer's server_login_retry (5 s), then ours (5 s)
    while replica_reads() == before and time.monotonic() < deadline:
        assert reader.state(slug)["voted"] is False
        time.sleep(0.5)
    assert replica_reads() > before


def test_through_pgbouncer_the_statement_timeout_is_the_one_set_on_the_role(
    replicated_database, pgbouncer
):
    # The site sends no `-c statement_timeout` through PgBouncer, so the server's own setting
    # for the role applies (ALTER ROLE psyweb SET statement_timeout = '5s', docs/deployment.md).
    result = run_django(
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SHOW statement_timeout')\n"
        "    print(cursor.fetchone()[0])\n",
        **replicated_database.site_env(
            DATABASE_URL=pgbouncer.url("psyweb"), DATABASE_POOLER="pgbouncer", replicas=False
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5s"


def test_without_database_pooler_pgbouncer_refuses_the_sites_connection(
    replicated_database, pgbouncer
):
    # What DATABASE_POOLER=pgbouncer is for: the session setting sent at connection time.
    result = run_django(
        "from django.db import connection\nconnection.ensure_connection()\n",
        **replicated_database.site_env(DATABASE_URL=pgbouncer.url("psyweb"), replicas=False),
    )
    assert result.returncode != 0
    assert "unsupported startup parameter: options" in result.stderr
