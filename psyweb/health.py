"""/healthz: whether this app server can reach its database and its cache, for monitors.

200 when both answer, 503 when either does not, as JSON that names only what failed. Each check
is bounded by the services' own timeouts (settings.py: DATABASE_CONNECT_TIMEOUT for PostgreSQL,
1 s for Redis), and each probe starts afresh, so the answer returns to 200 by itself when the
service comes back. The reason for a failure goes to the error log, never to the client.

With read replicas (DATABASE_REPLICA_URLS), the answer also shows each one's state as this
process's router sees it (psyweb/replicas.py: checked at most a second ago, or a few seconds
after it failed): "ok", "lagging", "unavailable" or "not a replica", with its lag in seconds
when known. A replica never turns the answer to 503: while the primary answers, this app server
can serve, reading from the primary instead.

Written here rather than taken from django-health-check: its 4.8 release (the last for Python
3.11) answers failures with 500, shows the database's host and port in the response, and adds
an async view and dnspython for two checks of a few lines each.
"""

import logging
import secrets
import threading
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from . import replicas
from .decorators import read_only

logger = logging.getLogger(__name__)

# Each process (and thread) writes its own key, so simultaneous probes never read each other's.
PROBE_KEY_PREFIX = f"healthz:{uuid.uuid4().hex}"


def database_answers():
    """Open a new connection and run SELECT 1 on it.

    A new connection, not the one this worker keeps between requests: it shows that the
    database takes connections now, and is bounded by the connect timeout.
    """
    connection = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    finally:
        connection.close()


def cache_answers():
    """Store a value in the cache and read it back."""
    key = f"{PROBE_KEY_PREFIX}:{threading.get_ident()}"
    value = secrets.token_hex(8)
    cache.set(key, value, timeout=60)
    return cache.get(key) == value


CHECKS = {"database": database_answers, "cache": cache_answers}


def passes(name, check):
    try:
        if check():
            return True
        logger.error("Health check: the %s answered wrongly.", name)
    except Exception as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        logger.error(
            "Health check: the %s does not answer (%s: %s)", name, type(error).__name__, reason
        )
    return False


@never_cache
@read_only
def healthz(request):
    results = {
        name: "ok" if passes(name, check) else "unavailable" for name, check in CHECKS.items()
    }
    healthy = all(result == "ok" for result in results.values())
    if settings.DATABASE_REPLICAS:
        results["replicas"] = {
            alias: replicas.verdict(alias).detail() for alias in settings.DATABASE_REPLICAS
        }
    return JsonResponse(results, status=200 if healthy else 503)
