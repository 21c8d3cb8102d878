"""The per-address limit on accepted votes, counted in the database.

Counting is one conditional upsert (`INSERT … ON CONFLICT DO UPDATE SET votes = votes + 1
WHERE votes < limit`), which the database applies one at a time, so simultaneous votes from
one address cannot slip past the limit together, whatever the cache is. The address itself
is never stored: a count's key is an HMAC, under the server's secret, of the address with the
poll and the hour, so counts cannot be joined across polls or hours, and counts of past hours
are deleted as votes come in.
"""

import contextlib
import hashlib
import hmac
import ipaddress

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from .models import AddressVoteCount

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
    return address_only(forwarded[-proxies])


def address_only(entry):
    """The address in one X-Forwarded-For entry, however the proxy wrote it.

    Proxies write `203.0.113.5`, `203.0.113.5:4711`, `[2001:db8::1]:4711`, or the element of a
    `Forwarded:` header, `for="[2001:db8::1]:4711"`; each counts as the bare address, so a
    client cannot get a new allowance from each of its ports.
    """
    entry = entry.strip()
    if entry[:4].lower() == "for=":
        entry = entry[4:].split(";")[0].strip().strip('"')
    if entry.startswith("["):
        return entry[1:].split("]")[0]
    if entry.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        return entry.split(":")[0]
    return entry


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


# The hour before which this process has deleted the counts (forget_past_hours).
_forgotten_before = 0


def forget_past_hours(hour):
    """Delete the counts of the hours before `hour`, once per process and hour.

    The first vote each server process takes in a new hour deletes them; after it, the other
    processes find nothing to delete, and the same process need not look again until the next
    hour. (Deleting on every new address's first vote cost the vote path 26-32 %:
    bench/hot_poll.py, docs/scaling.md.)
    """
    global _forgotten_before  # one number per process, by design
    if hour > _forgotten_before:
        AddressVoteCount.objects.filter(hour__lt=hour).delete()
        _forgotten_before = hour


class AddressLimit:
    """Reserve one of an address's accepted votes for this hour, and give it back if unused.

        with AddressLimit(request, poll).reserve():   # raises AddressLimit.Exceeded
            record_vote(...)                          # an exception gives the vote back

    The allowance is counted in the database (AddressVoteCount), exactly, on every database
    and with any cache, or none.
    """

    class Exceeded(Exception):
        """The address has had its accepted votes for this hour."""

        def __init__(self, retry_after):
            super().__init__(f"Over the vote limit; retry after {retry_after} s.")
            self.retry_after = retry_after

    def __init__(self, request, poll):
        self.limit = settings.POLL_IP_VOTE_LIMIT
        now = int(timezone.now().timestamp())
        self.hour = now // WINDOW_SECONDS
        self.retry_after = (self.hour + 1) * WINDOW_SECONDS - now
        self.count = None
        if self.limit > 0:
            network = limited_network(client_address(request))
            message = f"poll:{poll.pk}:hour:{self.hour}:address:{network}"
            key = hmac.new(settings.POLL_VOTER_SECRET.encode(), message.encode(), hashlib.sha256)
            self.count = {"poll": poll, "hour": self.hour, "address_key": key.hexdigest()}

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
        """True if the address may cast one more vote now (and that vote is counted).

        One statement: the address's first vote this hour makes its row, the others add one
        while under the limit, and a vote over it changes nothing and gets no row back. Two
        first votes at once cannot both make the row.
        """
        if self.count is None:
            return True
        table = connection.ops.quote_name(AddressVoteCount._meta.db_table)  # ours, not input
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (poll_id, hour, address_key, votes) "  # noqa: S608
                f"VALUES (%s, %s, %s, 1) ON CONFLICT (poll_id, hour, address_key) "
                f"DO UPDATE SET votes = {table}.votes + 1 WHERE {table}.votes < %s "
                f"RETURNING votes",
                [self.count["poll"].pk, self.hour, self.count["address_key"], self.limit],
            )
            row = cursor.fetchone()
        if row is None:
            return False  # used up
        forget_past_hours(self.hour)
        return True

    def release(self):
        """Give back a vote that was taken but not counted."""
        if self.count is not None:
            AddressVoteCount.objects.filter(**self.count, votes__gt=0).update(votes=F("votes") - 1)
