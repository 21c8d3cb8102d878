"""The per-address limit on accepted votes, kept in the shared cache.

The address itself is never stored: the cache holds an HMAC of it under a salt that lives only
in the cache and is replaced every day, so yesterday's keys cannot be linked to anyone.
"""

import hashlib
import hmac
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60 * 60
CACHE_ERRORS = (RedisError, OSError)


def client_address(request):
    """The address the request came from.

    REMOTE_ADDR, unless the deployment declares TRUSTED_PROXY_COUNT proxies in front, each of
    which appends the address it saw to X-Forwarded-For: then the entry that many places from
    the right. Headers a client sends itself (X-Forwarded-For beyond the trusted proxies,
    X-Real-IP, Client-IP) never change the answer.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def _daily_salt(today):
    key = f"polls:address-salt:{today.isoformat()}"
    salt = secrets.token_hex(32)
    if cache.add(key, salt, timeout=2 * 24 * 60 * 60):
        return salt
    return cache.get(key) or salt


def _counter_key(poll, address, now):
    salt = _daily_salt(now.date())
    digest = hmac.new(salt.encode(), address.encode(), hashlib.sha256).hexdigest()
    window = int(now.timestamp()) // WINDOW_SECONDS
    return f"polls:address-votes:{poll.pk}:{window}:{digest}"


class AddressLimit:
    """Reserve one of an address's accepted votes for this hour, and give it back if unused.

    The reservation is an atomic increment, so simultaneous requests cannot slip past the
    limit together. If the cache cannot be reached the vote is let through (the one-ballot
    rule in the database still holds) and the failure is logged.
    """

    def __init__(self, request, poll):
        self.limit = settings.POLL_IP_VOTE_LIMIT
        self.key = None
        if self.limit <= 0:
            return
        now = timezone.now()
        try:
            self.key = _counter_key(poll, client_address(request), now)
        except CACHE_ERRORS:
            logger.warning("Vote limit skipped: the cache cannot be reached.", exc_info=True)
        self.retry_after = WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS

    def reserve(self):
        """True if the address may cast one more vote now."""
        if self.key is None:
            return True
        try:
            cache.add(self.key, 0, timeout=WINDOW_SECONDS + 60)
            used = cache.incr(self.key)
        except ValueError:  # the window expired between add and incr
            cache.add(self.key, 1, timeout=WINDOW_SECONDS + 60)
            used = 1
        except CACHE_ERRORS:
            logger.warning("Vote limit skipped: the cache cannot be reached.", exc_info=True)
            self.key = None
            return True
        if used > self.limit:
            self.release()
            return False
        return True

    def release(self):
        if self.key is None:
            return
        try:
            cache.decr(self.key)
        except (ValueError, *CACHE_ERRORS):
            pass
