"""Whether each read replica can be read from now, as this app server process sees it.

A replica is read from only while it answers and is at most DATABASE_REPLICA_MAX_LAG_SECONDS
behind the primary (psyweb.routers sends reads elsewhere otherwise, to the primary at worst).
Asking costs a query, so each process keeps the answer, its "verdict", for
DATABASE_REPLICA_CHECK_SECONDS (1 s); a replica that did not answer is left alone for
DATABASE_REPLICA_RETRY_SECONDS (5 s), so that a dead one costs one request per process a
connection attempt now and then, not every request a connect timeout. /healthz shows the same
verdicts (psyweb/health.py).

The lag is read on the replica itself, over the connection its reads use:

- everything it has received is replayed, and it is streaming from the primary: 0 s behind;
- otherwise: the time since the last transaction it replayed was committed on the primary.
  That is exact while the primary is busy; after a quiet spell the first transaction to
  arrive makes a replica look as far behind as the quiet spell was long, until it is replayed
  (milliseconds), so at worst a replica is skipped for one check for nothing. A replica cut off
  from the primary (no WAL receiver) is measured the same way, so it is dropped once its last
  replayed transaction is older than the lag allowed, even if it has missed nothing. The two
  clocks are the machines' own: keep them in sync (NTP).
"""

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, OperationalError, connections

logger = logging.getLogger(__name__)

OK = "ok"
LAGGING = "lagging"
UNAVAILABLE = "unavailable"
NOT_A_REPLICA = "not a replica"
TEST_MIRROR = "test mirror"

# One query of a few functions: no table is read, and no privilege beyond LOGIN is needed
# (pg_stat_wal_receiver has a row for everyone while a WAL receiver runs). Replayed "at least"
# what was received: a WAL receiver just started counts from the start of a WAL segment.
LAG_QUERY = """
    SELECT pg_is_in_recovery(),
           CASE WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()
                     AND EXISTS (SELECT FROM pg_stat_wal_receiver) THEN 0
                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
           END
"""


@dataclass(frozen=True)
class Verdict:
    state: str
    lag: float | None  # seconds behind the primary; None when unknown
    until: float  # time.monotonic() after which it is checked again

    @property
    def usable(self):
        return self.state == OK

    def detail(self):
        """What /healthz shows: the state, and the lag when known."""
        if self.lag is None:
            return {"state": self.state}
        return {"state": self.state, "lag_seconds": round(self.lag, 3)}


_verdicts = {}


def verdict(alias):
    """The replica's state, checked now if the last check is older than its verdict's life."""
    current = _verdicts.get(alias)
    if current is None or time.monotonic() >= current.until:
        previous = current
        current = check(alias)
        if current.state != (previous.state if previous else OK):
            log_change(alias, current)
        _verdicts[alias] = current
    return current


def usable_replica(prefer=None):
    """A replica that reads may go to now, `prefer` if it is one; None if there is none.

    Replicas are tried in random order, so each process spreads its requests over them, and a
    replica that is down is only checked when its turn comes.
    """
    if prefer is not None and verdict(prefer).usable:
        return prefer
    for alias in random.sample(list(settings.DATABASE_REPLICAS), len(settings.DATABASE_REPLICAS)):
        if verdict(alias).usable and connects(alias):
            return alias
    return None


def connects(alias):
    """Whether the replica's connection works, before a request's first read from it.

    A connection kept from an earlier request is checked as Django checks it at its first use
    in a request (CONN_HEALTH_CHECKS), so this costs no query of its own. A replica stopped
    since its last check is then passed over at once, instead of failing this request. A kept
    connection that fails the check counts as a failure even if a new one could be opened:
    through PgBouncer a new connection always opens, whether the server behind it is up or not.
    """
    connection = connections[alias]
    kept = connection.connection is not None
    try:
        connection.close_if_health_check_failed()
        if kept and connection.connection is None:
            raise OperationalError("The kept connection failed its health check.")
        connection.ensure_connection()
    except DatabaseError as error:
        _verdicts[alias] = unavailable(alias, error)
        return False
    return True


def forget(alias):
    """Check the replica again before its next use: a query on it has just failed."""
    _verdicts.pop(alias, None)


def check(alias):
    """Ask the replica for its state and lag, now."""
    connection = connections[alias]
    if connection.settings_dict["NAME"] != settings.DATABASE_REPLICAS[alias]:
        # The test runner has pointed it at the primary's test database (Django's MIRROR):
        # the primary is read directly, and tests need not be allowed the replica's alias.
        return Verdict(TEST_MIRROR, None, math.inf)
    try:
        with connection.cursor() as cursor:
            cursor.execute(LAG_QUERY)
            in_recovery, lag = cursor.fetchone()
    except DatabaseError as error:
        return unavailable(alias, error)
    until = time.monotonic() + settings.DATABASE_REPLICA_CHECK_SECONDS
    if not in_recovery:
        return Verdict(NOT_A_REPLICA, None, until)
    if lag is None:  # nothing replayed yet since it started, and not caught up
        return Verdict(LAGGING, None, until)
    lag = max(float(lag), 0.0)  # the clocks of two machines may disagree a little
    state = OK if lag <= settings.DATABASE_REPLICA_MAX_LAG_SECONDS else LAGGING
    return Verdict(state, lag, until)


def unavailable(alias, error):
    """The verdict on a replica that failed to answer: left alone for a few seconds."""
    reason = (str(error).strip().splitlines() or [""])[0]
    logger.warning("Replica %s does not answer (%s: %s)", alias, type(error).__name__, reason)
    with contextlib.suppress(DatabaseError):
        connections[alias].close()  # its next use connects afresh
    retry_at = time.monotonic() + settings.DATABASE_REPLICA_RETRY_SECONDS
    return Verdict(UNAVAILABLE, None, retry_at)


def log_change(alias, new):
    if new.state == OK:
        logger.warning("Replica %s is back in use (%.3f s behind).", alias, new.lag)
    elif new.state == LAGGING:
        behind = "an unknown time" if new.lag is None else f"{new.lag:.1f} s"
        logger.warning(
            "Replica %s is %s behind the primary (limit %g s): its reads go elsewhere.",
            alias,
            behind,
            settings.DATABASE_REPLICA_MAX_LAG_SECONDS,
        )
    elif new.state == NOT_A_REPLICA:
        logger.error(
            "Replica %s is not in recovery (a primary, or promoted): it is not read from.", alias
        )
    # UNAVAILABLE is logged by unavailable(), on every failed attempt.
