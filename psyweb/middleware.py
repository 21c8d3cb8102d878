"""Site-wide middleware: every error a reader can meet is answered with the site's own page.

Each class does one thing, in the manner of django.contrib.flatpages.middleware.
"""

import codecs
import logging
import sqlite3

from django.conf import settings
from django.core.exceptions import BadRequest
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _fill(response, template_name, request):
    """Give an empty or developer-facing error response the site's page, keeping its headers."""
    response.content = render_to_string(template_name, request=request)
    response["Content-Type"] = "text/html; charset=utf-8"
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


class UnreadableInputMiddleware:
    """Answer 400 (the site's page) to input the site cannot read, before anything reads it.

    - A form in a charset other than UTF-8. Django refuses a urlencoded one in a charset it
      knows, but reads a multipart one in whatever charset it names, and a charset it does
      not know as UTF-8: answers would be read wrongly, or half-read by the CSRF check.
    - A NUL character in the address's query: PostgreSQL can neither store nor search for
      one, so an admin search for it would end in a server error.
    """

    form_types = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", "") or not self.sent_in_utf8(request):
            raise BadRequest("Input the site cannot read.")
        return self.get_response(request)

    def sent_in_utf8(self, request):
        charset = request.content_params.get("charset")
        if charset is None or request.content_type not in self.form_types:
            return True
        try:
            return codecs.lookup(charset).name == "utf-8"
        except LookupError:
            return False


class MethodNotAllowedPageMiddleware:
    """Django answers a method a view does not take with an empty 405; give it the site's page.

    The Allow header stays. Which views refuse which methods is said once, by the views
    themselves (`read_only`, a class's `http_method_names`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if isinstance(response, HttpResponseNotAllowed) and not response.content:
            _fill(response, "405.html", request)
        return response


class ReaderErrorPagesInDebugMiddleware:
    """With DEBUG on (`make run`), show the 400 and 404 pages readers get.

    Django shows its pages for developers instead; `make run` should be the real site. Server
    errors (500) keep Django's debug page: that is what it is for. With DEBUG off, does nothing.
    """

    pages = {400: "400.html", 404: "404.html"}
    # Every page Django makes for developers in DEBUG carries this tag.
    debug_page_marker = b'<meta name="robots" content="NONE,NOARCHIVE">'

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code in self.pages
            and self.debug_page_marker in response.content[:1000]
        ):
            _fill(response, self.pages[response.status_code], request)
        return response


# Errors from a database that answers but could not do this request just now: it is busy, and
# the same request is likely to work again in a moment. By SQLSTATE (psycopg2's `pgcode`):
BUSY_SQLSTATES = {
    "40P01": "deadlock detected",  # psycopg2.errors.DeadlockDetected
    "40001": "serialization failure",  # psycopg2.errors.SerializationFailure
    "57014": "statement timeout",  # psycopg2.errors.QueryCanceled (statement_timeout)
    "55P03": "lock not available",  # psycopg2.errors.LockNotAvailable (lock_timeout, NOWAIT)
}


def busy_reason(exception):
    """Why the database was too busy for this request, or None if it could not be reached.

    Django wraps the driver's exception; the driver's own is its `__cause__`.
    """
    cause = exception.__cause__
    code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    if code in BUSY_SQLSTATES:
        return BUSY_SQLSTATES[code]
    if isinstance(cause, sqlite3.OperationalError) and "database is locked" in str(cause):
        return "database is locked"  # SQLite, after waiting its busy timeout
    return None


class DatabaseOutageMiddleware:
    """When the database cannot serve a request, answer 503 and ask the reader to come back.

    A database that cannot be reached and one that is busy (a deadlock, a timeout, a lock) are
    logged for what they are and explained to the reader in their own words. So is a Redis
    that cannot be reached where a request cannot do without it: staff sign-in, whose
    throttling (django-axes) counts in the cache, is refused rather than let through
    unthrottled. (Shared pages do without Redis: psyweb.pagecache.)
    """

    retry_after_seconds = 30
    busy_retry_after_seconds = 5

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError, RedisError)):
            return None
        busy = None if isinstance(exception, RedisError) else busy_reason(exception)
        # One line per request: an outage would otherwise write a traceback for each.
        if isinstance(exception, RedisError):
            logger.error("Cache (Redis) unavailable, answered 503: %s", str(exception).strip())
            message = "The site is briefly unavailable. Please try again in a minute."
            retry_after = self.retry_after_seconds
        elif busy:
            logger.warning("Database busy (%s), answered 503", busy)
            message = "The site is busy just now. Please try again in a moment."
            retry_after = self.busy_retry_after_seconds
        else:
            logger.error("Database unavailable, answered 503: %s", str(exception).strip())
            message = "The site is briefly unavailable. Please try again in a minute."
            retry_after = self.retry_after_seconds
        if request.path.endswith(".json") or request.headers.get("Accept") == "application/json":
            response = JsonResponse({"error": message}, status=503)
        else:
            page = render_to_string("503.html", {"busy": bool(busy)}, request=request)
            response = HttpResponse(page, status=503)
        response["Retry-After"] = str(retry_after)
        # The line logged above is this request's only one: Django would add "Service
        # Unavailable" at ERROR level for every 503, and a busy database would read as an outage.
        response._has_been_logged = True
        return response
