"""The per-address limit on accepted votes, kept in the shared cache.

The address itself is never stored: the cache holds an HMAC of it under the server's secret and
a salt that lives only in the cache and is replaced every day, so yesterday's keys cannot be
linked to anyone.
"""

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60 * 60
# An IPv6 subscriber is usually given a whole /64, so the limit counts per /64.
IPV6_PREFIX = 64


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


def limited_network(address):
    """What the limit counts: an IPv4 address, or the /64 an IPv6 address belongs to.

    An IPv4 address written as IPv6 (::ffff:203.0.113.5) counts as that IPv4 address.
    Anything that is not an address is counted as the text it is.
    """
    try:
        ip = ipaddress.ip_address(address.strip().split("%")[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))


def _daily_salt(today):
    key = f"polls:address-salt:{today.isoformat()}"
    salt = secrets.token_hex(32)
    if cache.add(key, salt, timeout=2 * 24 * 60 * 60):
        return salt
    return cache.get(key) or salt


class AddressLimit:
    """Reserve one of an address's accepted votes for this hour, and give it back if unused.

        with AddressLimit(request, poll).reserve():   # raises AddressLimit.Exceeded
            record_vote(...)                          # an exception gives the vote back

    The reservation is an increment, atomic on Redis, so simultaneous requests cannot slip
    past the limit together. If the cache fails, the vote is let through (the one-ballot rule
    in the database still holds) and the failure is logged.
    """

    class Exceeded(Exception):
        """The address has had its accepted votes for this hour."""

        def __init__(self, retry_after):
            super().__init__(f"Over the vote limit; retry after {retry_after} s.")
            self.retry_after = retry_after

    def __init__(self, request, poll):
        self.limit = settings.POLL_IP_VOTE_LIMIT
        now = timezone.now()
        window = int(now.timestamp()) // WINDOW_SECONDS
        self.retry_after = (window + 1) * WINDOW_SECONDS - int(now.timestamp())
        self.key = None
        if self.limit <= 0:
            return
        try:
            salt = _daily_salt(now.date())
        except Exception:
            logger.warning("Vote limit skipped: the cache cannot be reached.", exc_info=True)
            return
        network = limited_network(client_address(request))
        # Keyed with the server's secret as well as the day's salt: whoever can read the cache
        # alone cannot try every IPv4 address against the keys.
        key = f"{settings.POLL_VOTER_SECRET}:{salt}".encode()
        digest = hmac.new(key, network.encode(), hashlib.sha256).hexdigest()
        self.key = f"polls:address-votes:{poll.pk}:{window}:{digest}"

    @contextlib.contextmanager
    def reserve(self):
        """Hold one vote of the address's allowance while the block runs.

        Raises Exceeded when the address has none left. If the block raises (the vote was
        refused, or the database failed), the vote is given back.
        """
        if not self.take():
            raise self.Exceeded(self.retry_after)
        try:
            yield
        except BaseException:
            self.release()
            raise

    def take(self):
        """True if the address may cast one more vote now."""
        if self.key is None:
            return True
        try:
            cache.add(self.key, 0, timeout=self.retry_after + 60)
            used = cache.incr(self.key)
            # Some backends (files, database) rewrite the entry with the default timeout.
            cache.touch(self.key, self.retry_after + 60)
        except Exception:
            logger.warning("Vote limit skipped: the cache cannot be reached.", exc_info=True)
            self.key = None
            return True
        if used > self.limit:
            self.release()
            return False
        return True

    def release(self):
        """Give back a reservation whose vote was not counted."""
        if self.key is None:
            return
        try:
            cache.decr(self.key)
            cache.touch(self.key, self.retry_after + 60)
        except Exception:
            logger.warning("Could not give back a vote-limit reservation.", exc_info=True)
