"""Where the ORM reads from: the primary, or a read replica (DATABASE_REPLICA_URLS).

Installed only when replicas are configured (settings.py); without them Django's default
routing applies and none of this runs. Writes always go to the primary. A read goes to a
replica only when all of these hold, and to the primary otherwise:

- it happens while serving a web request (`ReadYourWritesMiddleware`): management commands,
  the shell and anything else outside a request read from the primary;
- the request is a GET, HEAD or OPTIONS, from a visitor without the `psyweb_primary` cookie,
  which a response sets for DATABASE_PRIMARY_STICKY_SECONDS after a request that wrote (a
  vote, an admin save, a sign-in): read-your-writes, longer than any lag a replica in use can
  have. Unsafe requests (POST …) read from the primary throughout, so a vote's "have you
  voted?" check and a form's uniqueness checks see the latest ballots and rows;
- nothing has been written yet in this request, and no transaction is open on the primary;
- the code is not inside `primary()`;
- a replica answers and is not too far behind (psyweb/replicas.py).

One request reads from one replica (while it stays usable), so a page is not assembled from
replicas that disagree. Shared pages (psyweb/pagecache.py) never carry the cookie: only
responses to requests that wrote set it, and those are never shared.

Written here rather than taken from django-multidb-router, whose "pinning" this follows: its
router does not know whether a replica answers or how far behind it is (the larger part of
this), its `use_primary_db` leaves the thread on the primary for good once two blocks have
nested (0.11), and its middleware sets the cookie on every POST, refused ones included.
"""

import contextlib
import math
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from . import replicas

COOKIE_NAME = "psyweb_primary"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class RequestReads:
    """Where the current request may read from; None outside requests."""

    may_use_replica: bool
    wrote: bool = False
    replica: str | None = None  # the one chosen at its first read


_request = ContextVar("psyweb_request_reads", default=None)
_primary_forced = ContextVar("psyweb_primary_forced", default=False)


@contextlib.contextmanager
def primary():
    """Read from the primary inside this block; as a decorator, `@primary()`.

    For reads that decide a write: whether a visitor has already voted, a count about to be
    checked. Blocks nest. Outside a request everything reads from the primary anyway.
    """
    token = _primary_forced.set(True)
    try:
        yield
    finally:
        _primary_forced.reset(token)


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        reads = _request.get()
        if (
            reads is None
            or not reads.may_use_replica
            or reads.wrote
            or _primary_forced.get()
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        reads.replica = replicas.usable_replica(prefer=reads.replica)
        return reads.replica or DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        reads = _request.get()
        if reads is not None:
            reads.wrote = True  # what this request reads next, it reads from the primary
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # replicas follow the primary's schema by replication


class ReadYourWritesMiddleware:
    """Decide where this request's reads go, and after a write keep the visitor on the primary.

    Placed below DatabaseOutageMiddleware, so that when a query on a replica fails, that
    replica is checked again before the next request uses it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reads = RequestReads(
            may_use_replica=request.method in SAFE_METHODS and COOKIE_NAME not in request.COOKIES
        )
        token = _request.set(reads)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if reads.wrote and not getattr(response, "is_shared_page", False):
            response.set_cookie(
                COOKIE_NAME,
                "1",
                max_age=math.ceil(settings.DATABASE_PRIMARY_STICKY_SECONDS),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    def process_exception(self, request, exception):
        reads = _request.get()
        if isinstance(exception, (OperationalError, InterfaceError)) and reads and reads.replica:
            replicas.forget(reads.replica)
