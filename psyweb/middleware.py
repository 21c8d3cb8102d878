"""Site-wide middleware: every error a reader can meet is answered with the site's own page.

Each class does one thing, in the manner of django.contrib.flatpages.middleware.
"""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def _fill(response, template_name, request):
    """Give an empty or developer-facing error response the site's page, keeping its headers."""
    response.content = render_to_string(template_name, request=request)
    response["Content-Type"] = "text/html; charset=utf-8"
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


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


class DatabaseOutageMiddleware:
    """When the database cannot be reached, answer 503 and ask the reader to come back."""

    retry_after_seconds = 30

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        # One line per request: an outage would otherwise write a traceback for each.
        logger.error("Database unavailable, answered 503: %s", str(exception).strip())
        if request.path.endswith(".json") or request.headers.get("Accept") == "application/json":
            response = JsonResponse(
                {"error": "The site is briefly unavailable. Please try again in a minute."},
                status=503,
            )
        else:
            response = HttpResponse(render_to_string("503.html", request=request), status=503)
        response["Retry-After"] = str(self.retry_after_seconds)
        return response
