"""Reads go to a streaming replica, writes to the primary, and a replica that is down or behind
is passed over: shown on real clusters (clusters.py), through gunicorn.

Where statements ran is read from each server's pg_stat_statements.
"""

import json
import time
from http import HTTPStatus

import pytest

from .visitors import Visitor

pytestmark = pytest.mark.postgresql

READS_OF_POLLS = 'SELECT %FROM "polls_poll"%'
BALLOTS_WRITTEN = 'INSERT INTO "polls_vote"%'


class Statements:
    """How many statements LIKE a pattern each server has run since this was made."""

    def __init__(self, database, like):
        self.database, self.like = database, like
        self.start = self.now()

    def now(self):
        return {
            "primary": self.database.primary.statement_calls(self.like),
            "replica": self.database.replica.statement_calls(self.like),
        }

    def since(self):
        now = self.now()
        return {server: now[server] - self.start[server] for server in now}


def health(site):
    status, _, body, _ = site.request("GET", "/healthz")
    return status, json.loads(body)


def wait_for(condition, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def test_a_readers_page_reads_from_the_replica(replicated_database, open_poll, site):
    slug, _ = open_poll
    visitor = Visitor(site())
    reads = Statements(replicated_database, READS_OF_POLLS)

    assert visitor.state(slug)["voted"] is False

    assert reads.since()["replica"] >= 1
    assert reads.since()["primary"] == 0


def test_a_vote_is_written_to_the_primary_and_read_there_throughout(
    replicated_database, open_poll, site
):
    slug, (yes, _) = open_poll
    visitor = Visitor(site())
    reads = Statements(replicated_database, READS_OF_POLLS)
    writes = Statements(replicated_database, BALLOTS_WRITTEN)

    status, _, body = visitor.vote(slug, yes)

    assert (status, body["voted"]) == (HTTPStatus.OK, True)
    assert writes.since() == {"primary": 1, "replica": 0}
    # A POST reads from the primary only: the "have you voted?" check sees every ballot.
    assert reads.since()["primary"] >= 1
    assert reads.since()["replica"] == 0
    ballots = "SELECT count(*) FROM polls_vote JOIN polls_poll p ON p.id = poll_id WHERE slug = %s"
    assert replicated_database.primary.value(ballots, [slug]) == 1
    replicated_database.wait_for_replay()
    assert replicated_database.replica.value(ballots, [slug]) == 1  # by replication alone


def test_the_health_check_shows_the_replica_and_its_lag(replicated_database, site):
    status, body = health(site())

    assert status == HTTPStatus.OK
    assert body["database"] == body["cache"] == "ok"
    assert body["replicas"]["replica_1"]["state"] == "ok"
    assert 0 <= body["replicas"]["replica_1"]["lag_seconds"] <= 2
    assert str(replicated_database.replica.port) not in json.dumps(body)


def test_while_the_replica_is_stopped_reads_go_to_the_primary_without_an_error(
    replicated_database, open_poll, site
):
    slug, _ = open_poll
    server = site()
    visitor = Visitor(server)
    visitor.state(slug)  # the worker now keeps a connection to the replica

    with replicated_database.replica_stopped():
        primary_before = replicated_database.primary.statement_calls(READS_OF_POLLS)
        started = time.monotonic()
        for _ in range(3):
            assert visitor.state(slug)["voted"] is False  # 200 every time, never the 503 page
        assert time.monotonic() - started < 3
        assert replicated_database.primary.statement_calls(READS_OF_POLLS) >= primary_before + 3

        status, body = health(server)
        assert status == HTTPStatus.OK  # the app server can still serve
        assert body["database"] == "ok"
        assert body["replicas"]["replica_1"] == {"state": "unavailable"}
    assert "Replica replica_1 does not answer (OperationalError" in server.log()

    # Started again, it is used again once its failure has been forgotten (5 s).
    reads = Statements(replicated_database, READS_OF_POLLS)
    assert wait_for(lambda: visitor.state(slug) and reads.since()["replica"] > 0, timeout=15)
    assert health(server)[1]["replicas"]["replica_1"]["state"] == "ok"
    assert "Replica replica_1 is back in use" in server.log()


def test_while_the_replica_lags_too_far_behind_reads_go_to_the_primary(
    replicated_database, open_poll, site
):
    slug, (yes, _) = open_poll
    server = site(DATABASE_REPLICA_MAX_LAG_SECONDS="1", DATABASE_PRIMARY_STICKY_SECONDS="3")
    voter = Visitor(server)
    voter.state(slug)

    with replicated_database.replay_paused():
        assert voter.vote(slug, yes)[0] == HTTPStatus.OK  # on the primary; the replica waits
        del voter.cookies["psyweb_primary"]  # read as if the sticky time were over
        time.sleep(2.5)  # over the 1 s allowed, plus the 1 s a verdict is kept
        reads = Statements(replicated_database, READS_OF_POLLS)

        assert voter.state(slug)["voted"] is True

        assert reads.since()["replica"] == 0
        assert reads.since()["primary"] >= 1
        status, body = health(server)
        assert status == HTTPStatus.OK
        assert body["replicas"]["replica_1"]["state"] == "lagging"
        assert body["replicas"]["replica_1"]["lag_seconds"] > 1
    assert "Replica replica_1 is " in server.log()
    assert "behind the primary (limit 1 s): its reads go elsewhere." in server.log()

    # Caught up, it is read from again within a check or two.
    reads = Statements(replicated_database, READS_OF_POLLS)
    assert wait_for(lambda: voter.state(slug) and reads.since()["replica"] > 0, timeout=10)
    assert health(server)[1]["replicas"]["replica_1"]["state"] == "ok"
