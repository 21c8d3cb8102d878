"""Site-wide middleware: every error a reader can meet is answered with the site's own page."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class FriendlyErrorsMiddleware:
    """
    Fill the gaps Django's own error handlers leave.

    - 405: Django answers a wrong method with an empty HttpResponseNotAllowed; give it the
      site's page and keep the Allow header. A POST to a read-only class-based view is
      answered 405 here, before the CSRF check, since no token would make it acceptable.
    - 400 and 404 with DEBUG on: the site's pages rather than Django's pages for developers.
    - 503: when the database cannot be reached, say so and ask the reader to come back,
      instead of a 500.
    """

    retry_after_seconds = 30
    pages_for_readers = {400: "400.html", 404: "404.html"}
    # Every page Django makes for developers in DEBUG carries this tag.
    debug_page_marker = b'<meta name="robots" content="NONE,NOARCHIVE">'

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if isinstance(response, HttpResponseNotAllowed) and not response.content:
            self._fill(response, "405.html", request)
        elif (
            settings.DEBUG
            and response.status_code in self.pages_for_readers
            and self.debug_page_marker in response.content[:1000]
        ):
            # With DEBUG on (make run), Django answers a missing page or a bad request with
            # its pages for developers; show the pages readers get, so `make run` is the real
            # site. Server errors (500) keep Django's debug page: that is what it is for.
            self._fill(response, self.pages_for_readers[response.status_code], request)
        return response

    @staticmethod
    def _fill(response, template_name, request):
        response.content = render_to_string(template_name, request=request)
        response["Content-Type"] = "text/html; charset=utf-8"
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "view_class", None)
        if view_class is None:
            return None
        allowed = {m for m in view_class.http_method_names if hasattr(view_class, m)}
        if "get" in allowed:
            allowed.add("head")
        if request.method.lower() not in allowed:
            return HttpResponseNotAllowed(sorted(m.upper() for m in allowed))
        return None

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        # One line per request: an outage would otherwise write a traceback for each.
        logger.error("Database unavailable, answered 503: %s", str(exception).strip())
        if request.path.endswith(".json"):
            response = JsonResponse(
                {"error": "The site is briefly unavailable. Please try again in a minute."},
                status=503,
            )
        else:
            response = HttpResponse(render_to_string("503.html", request=request), status=503)
        response["Retry-After"] = str(self.retry_after_seconds)
        return response
