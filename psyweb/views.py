"""Site-wide views: the favicon, the privacy page, and the error handlers.

Django's own handlers run the CSRF machinery, which reads the request body again; for a body
Django refused to parse (a form sent in another charset, say), that raised the same error
inside the error page and ended in a bare 500. These render the site's pages without
touching the body.
"""

import math

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from modern_csrf.middleware import REASON_BAD_SEC_FETCH_SITE

from polls import ratelimit, voters

from . import routers

DAY = 24 * 60 * 60


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; send them to the real one."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def privacy(request):
    """What the site stores about its readers, and for how long.

    Every name and figure on the page comes from the setting or constant the code itself
    uses, so the page says what the site does, whatever the deployment sets.
    """
    context = {
        "voter_cookie": voters.COOKIE_NAME,
        "voter_cookie_days": voters.COOKIE_MAX_AGE / DAY,
        "voter_cookie_secure": settings.SESSION_COOKIE_SECURE,
        "vote_limit": settings.POLL_IP_VOTE_LIMIT,
        "vote_window_minutes": ratelimit.WINDOW_SECONDS / 60,
        "ipv6_prefix": ratelimit.IPV6_PREFIX,
        "sign_in_failure_limit": settings.AXES_FAILURE_LIMIT,
        "sign_in_cooloff_minutes": settings.AXES_COOLOFF_TIME.total_seconds() / 60,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "session_cookie_days": settings.SESSION_COOKIE_AGE / DAY,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
        "messages_cookie": CookieStorage.cookie_name,
        # Set only where the site reads from database copies (psyweb.routers).
        "primary_cookie": routers.COOKIE_NAME if settings.DATABASE_REPLICAS else None,
        "primary_cookie_seconds": math.ceil(settings.DATABASE_PRIMARY_STICKY_SECONDS),
        # Browsers send no Referer to other sites under these policies.
        "referrer_hidden": settings.SECURE_REFERRER_POLICY in ("same-origin", "no-referrer"),
    }
    return render(request, "privacy.html", context)


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
