"""Site-wide views: the favicon, and the error handlers.

Django's own handlers run the CSRF machinery, which reads the request body again; for a body
Django refused to parse (a form sent in another charset, say), that raised the same error
inside the error page and ended in a bare 500. These render the site's pages without
touching the body.
"""

from django.http import HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from modern_csrf.middleware import REASON_BAD_SEC_FETCH_SITE


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; send them to the real one."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def bad_request(request, exception):
    return render(request, "400.html", status=400)


def permission_denied(request, exception):
    return render(request, "403.html", status=403)


def csrf_failure(request, reason=""):
    """A form refused by a CSRF check: say whether it came from another site, or expired."""
    cross_site = reason == REASON_BAD_SEC_FETCH_SITE or reason.startswith("Origin checking failed")
    return render(request, "403_cross_site.html" if cross_site else "403_csrf.html", status=403)


def page_not_found(request, exception):
    return render(request, "404.html", status=404)


def server_error(request):
    return render(request, "500.html", status=500)
