"""Readers' pages: the same bytes for every anonymous reader, kept briefly in shared caches.

A view wrapped in `shared_page` renders nothing that belongs to one visitor: no CSRF token,
no cookie, no "you have voted" (that is the poll island's job, static/js/polls.js). For a
request without a session cookie it is rendered as for an anonymous reader and marked
shareable; `SharedPageCacheMiddleware` then keeps it in Django's cache (CACHE_URL: Redis in
production) and answers the next anonymous request for the same address from there, before
any other middleware or view runs, so without a database query.

Each worker process also keeps the pages it served in its own memory (the `worker_pages`
cache), but never past their freshness, so that most requests cost no trip to Redis.

Freshness is a short time-to-live, not invalidation: a page is re-rendered once it is
`PAGE_CACHE_SECONDS` old (0.5 s by default), so an edit made anywhere (the admin on any
server, a management command, a scheduled article coming due, a vote in the counts) shows
within that time on every server that shares the cache. The same lifetime is passed on to
nginx (X-Accel-Expires) and other shared caches (s-maxage). See docs/deployment.md.

Signed-in visitors (staff) carry a session cookie: their pages are rendered for them and
marked private, never stored by any cache.
"""

import functools
import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache, caches
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from .decorators import read_only

logger = logging.getLogger(__name__)

# While one worker re-renders an expired page, the others may go on serving the old copy for
# this much longer, so an expiring popular page is rendered once, not by every worker at once.
STALE_GRACE_SECONDS = 0.5
# The longest a re-render may take before another worker is allowed to try.
RENDER_LOCK_SECONDS = 5


def is_anonymous(request):
    """Whether this request is from a reader who is not signed in: it has no session cookie.

    Decided from the cookie alone, without loading a session, so that answering it neither
    costs a query nor marks the response `Vary: Cookie`.
    """
    return settings.SESSION_COOKIE_NAME not in request.COOKIES


def shared_page(view):
    """Mark a read-only view's pages as the same for every anonymous reader.

    Anonymous requests are rendered as for AnonymousUser (without opening the empty session)
    and may be kept by shared caches; any other request gets a private, uncached page.
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_anonymous(request):
            response = view(request, *args, **kwargs)
            add_never_cache_headers(response)
            return response
        request.user = AnonymousUser()
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            response.is_shared_page = True
            patch_cache_control(
                response, public=True, max_age=0, s_maxage=math.ceil(settings.PAGE_CACHE_SECONDS)
            )
        return response

    return read_only(wrapped)


def page_key(request):
    """The cache key of the page at this request's address (scheme, host, path and query)."""
    return "page:" + hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()


def render_lock_key(key):
    return f"{key}:rendering"


class CachedPage:
    """A rendered shared page as stored in the cache: what is needed to answer again."""

    def __init__(self, response, rendered_at):
        self.rendered_at = rendered_at
        self.status = response.status_code
        self.headers = dict(response.headers)
        # For nginx: keep the page until the second in which it stops being fresh (nginx
        # counts whole seconds), so a page is never older than PAGE_CACHE_SECONDS + 1 s there.
        self.headers["X-Accel-Expires"] = f"@{int(rendered_at + settings.PAGE_CACHE_SECONDS)}"
        self.content = response.content

    def age(self, now):
        return now - self.rendered_at

    def response(self, request):
        response = HttpResponse(
            b"" if request.method == "HEAD" else self.content,
            status=self.status,
            headers=self.headers,
        )
        response.is_shared_page = True
        return response


class SharedPageCacheMiddleware:
    """Answer anonymous GET and HEAD requests for shared pages from Django's cache.

    Placed near the top of MIDDLEWARE (below SecurityMiddleware and WhiteNoise), so a hit skips
    sessions, CSRF, authentication and the view. Only responses marked by `shared_page` are
    stored. If the cache fails, pages are rendered as if there were none.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in ("GET", "HEAD") or not is_anonymous(request):
            return self.get_response(request)
        try:
            key = page_key(request)
        except DisallowedHost:
            return self.get_response(request)  # CommonMiddleware answers it with a 400

        now = time.time()
        fresh_for = settings.PAGE_CACHE_SECONDS
        page = caches["worker_pages"].get(key)
        if page is not None and page.age(now) < fresh_for:
            return page.response(request)
        page = self._get(key)
        rendering = False
        if page is not None:
            if page.age(now) < fresh_for:
                self._keep_in_worker(key, page, now)
                return page.response(request)
            rendering = self._lock(key)
            if not rendering and page.age(now) < fresh_for + STALE_GRACE_SECONDS:
                return page.response(request)  # another worker is rendering it right now
        try:
            response = self.get_response(request)
            if getattr(response, "is_shared_page", False) and request.method == "GET":
                page = CachedPage(response, rendered_at=now)
                response["X-Accel-Expires"] = page.headers["X-Accel-Expires"]
                self._set(key, page)
                self._keep_in_worker(key, page, now)
        finally:
            if rendering:
                self._unlock(key)
        return response

    # The cache is an accelerator: when it fails, readers still get their pages.

    @staticmethod
    def _get(key):
        try:
            return cache.get(key)
        except Exception:
            logger.warning("Page cache unavailable; rendering without it.", exc_info=True)
            return None

    @staticmethod
    def _set(key, page):
        timeout = math.ceil(settings.PAGE_CACHE_SECONDS + STALE_GRACE_SECONDS) + 1
        try:
            cache.set(key, page, timeout=timeout)
        except Exception:
            logger.warning("Could not store a page in the cache.", exc_info=True)

    @staticmethod
    def _keep_in_worker(key, page, now):
        """Keep a fresh page in this process's memory until it stops being fresh."""
        fresh_for = settings.PAGE_CACHE_SECONDS - page.age(now)
        caches["worker_pages"].set(key, page, timeout=fresh_for)

    @staticmethod
    def _lock(key):
        try:
            return cache.add(render_lock_key(key), 1, timeout=RENDER_LOCK_SECONDS)
        except Exception:
            return False

    @staticmethod
    def _unlock(key):
        try:
            cache.delete(render_lock_key(key))
        except Exception:
            logger.debug("Could not release a page render lock.", exc_info=True)
