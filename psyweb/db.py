"""How long the site waits for PostgreSQL to answer, counted on the site's side.

PostgreSQL's own `statement_timeout` is kept by the server. A server that hangs (its process
stopped, or a network path that still acknowledges packets but delivers nothing) never keeps
it, and libpq would wait for ever: the request would hold its worker until gunicorn killed it,
and the reader would get an empty reply. psycopg2 lets Python do the waiting instead (a "wait
callback", as `psycopg2.extras.wait_select` does to make Ctrl-C work); this one gives up after
DATABASE_WAIT_TIMEOUT seconds with an OperationalError, which the site answers with its 503
page (psyweb.middleware.DatabaseOutageMiddleware). Django then drops the connection.
"""

import select
import time

from django.conf import settings
from psycopg2 import OperationalError, extensions


def wait_with_deadline(connection):
    """Wait for `connection` as libpq would, but no longer than DATABASE_WAIT_TIMEOUT."""
    limit = settings.DATABASE_WAIT_TIMEOUT
    deadline = time.monotonic() + limit if limit > 0 else None
    while True:
        state = connection.poll()
        if state == extensions.POLL_OK:
            return
        if state not in (extensions.POLL_READ, extensions.POLL_WRITE):
            raise OperationalError(f"Unexpected state from the database connection: {state}")
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise OperationalError(f"The database did not answer within {limit:g} s.")
        fd = [connection.fileno()]
        if state == extensions.POLL_READ:
            ready, _, _ = select.select(fd, [], [], remaining)
        else:
            _, ready, _ = select.select([], fd, [], remaining)
        if not ready:
            raise OperationalError(f"The database did not answer within {limit:g} s.")


def install():
    extensions.set_wait_callback(wait_with_deadline)
