"""The per-address limit: accepted votes per hour per address per poll, kept in the shared cache."""

import hashlib
import socket
from http import HTTPStatus

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from polls import ratelimit, services
from polls.models import AddressVoteCount, Vote
from polls.ratelimit import AddressLimit, client_address, limited_network

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit_two(settings):
    settings.POLL_IP_VOTE_LIMIT = 2
    settings.TRUSTED_PROXY_COUNT = 0


def vote_from(poll, address="203.0.113.7", **headers):
    """A new visitor (fresh cookies) votes from `address`."""
    return Client(REMOTE_ADDR=address).post(
        reverse("polls:vote", args=[poll.slug]),
        {"choice": poll.choices.first().pk},
        headers=headers,
    )


def limit_for(poll, address="203.0.113.7"):
    return AddressLimit(RequestFactory().post("/", REMOTE_ADDR=address), poll)


def counted(limit):
    """How many votes `limit` has counted for its address this hour (0 if none yet)."""
    row = AddressVoteCount.objects.filter(**limit.count).first()
    return row.votes if row else 0


def used(poll, address="203.0.113.7"):
    """How many of `address`'s votes in `poll` the limit holds for this hour."""
    return counted(limit_for(poll, address))


def test_votes_over_the_limit_get_a_429_that_explains(poll, limit_two):
    assert [vote_from(poll).status_code for _ in range(2)] == [HTTPStatus.SEE_OTHER] * 2
    response = vote_from(poll)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Too many votes from your connection" in response.text
    assert 0 < int(response["Retry-After"]) <= 3600
    assert Vote.objects.count() == 2
    assert poll.choices.with_votes().values_list("votes", flat=True).first() == 2


def test_other_addresses_are_not_limited_by_one_busy_address(poll, limit_two):
    for _ in range(2):
        vote_from(poll, "203.0.113.7")
    assert vote_from(poll, "198.51.100.4").status_code == HTTPStatus.SEE_OTHER


def test_the_limit_is_per_poll(make_poll, limit_two):
    one, two = make_poll(), make_poll()
    for _ in range(2):
        vote_from(one)
    assert vote_from(two).status_code == HTTPStatus.SEE_OTHER


@pytest.mark.parametrize(
    "spoof",
    [
        {"x-forwarded-for": "{n}.0.0.1"},
        {"x-real-ip": "{n}.0.0.1"},
        {"client-ip": "{n}.0.0.1"},
        {"x-forwarded-for": "{n}.0.0.1, {n}.0.0.2", "x-real-ip": "{n}.9.9.9"},
    ],
)
def test_client_sent_forwarding_headers_do_not_change_the_address(poll, limit_two, spoof):
    statuses = [
        vote_from(poll, **{k: v.format(n=n + 10) for k, v in spoof.items()}).status_code
        for n in range(3)
    ]
    assert statuses == [HTTPStatus.SEE_OTHER, HTTPStatus.SEE_OTHER, HTTPStatus.TOO_MANY_REQUESTS]


def test_behind_a_declared_proxy_the_address_it_saw_is_used(poll, limit_two, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(2):
        vote_from(poll, proxy, x_forwarded_for="203.0.113.7")
    response = vote_from(poll, proxy, x_forwarded_for="203.0.113.7")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert (
        vote_from(poll, proxy, x_forwarded_for="198.51.100.4").status_code == HTTPStatus.SEE_OTHER
    )


def test_behind_a_proxy_each_port_of_one_address_shares_its_limit(poll, limit_two, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    statuses = [
        vote_from(poll, "10.0.0.2", x_forwarded_for=f"198.51.100.1:{port}").status_code
        for port in (40001, 40002, 40003)
    ]
    assert statuses == [HTTPStatus.SEE_OTHER, HTTPStatus.SEE_OTHER, HTTPStatus.TOO_MANY_REQUESTS]


def test_behind_a_declared_proxy_a_spoofed_leftmost_entry_is_ignored(poll, limit_two, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    statuses = [
        vote_from(poll, "10.0.0.2", x_forwarded_for=f"1.2.3.{n}, 203.0.113.7").status_code
        for n in range(3)
    ]
    assert statuses[-1] == HTTPStatus.TOO_MANY_REQUESTS


def test_refused_ballots_do_not_use_up_the_limit(poll, limit_two):
    visitor = Client(REMOTE_ADDR="203.0.113.7")
    url = reverse("polls:vote", args=[poll.slug])
    visitor.post(url, {"choice": poll.choices.first().pk})
    for _ in range(3):
        response = visitor.post(url, {"choice": poll.choices.first().pk})
        assert response.status_code == HTTPStatus.CONFLICT
    assert vote_from(poll).status_code == HTTPStatus.SEE_OTHER


def test_refused_forms_do_not_use_up_the_limit(poll, limit_two):
    url = reverse("polls:vote", args=[poll.slug])
    for sent in ({}, {"choice": "abc"}, {"choice": [1, 2]}):
        response = Client(REMOTE_ADDR="203.0.113.7").post(url, sent)
        assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not used(poll)
    assert [vote_from(poll).status_code for _ in range(2)] == [HTTPStatus.SEE_OTHER] * 2


def test_a_vote_the_database_fails_to_record_gives_its_place_back(poll, limit_two, monkeypatch):
    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "record_vote", database_down)
    response = vote_from(poll)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert used(poll) == 0
    assert not Vote.objects.exists()


def test_reserve_holds_a_vote_while_it_is_counted_and_gives_it_back_on_failure(poll, limit_two):
    limit = limit_for(poll)
    held = []

    def count_a_vote_that_fails():
        with limit.reserve():
            held.append(counted(limit))
            raise RuntimeError("the vote was not counted")

    with pytest.raises(RuntimeError):
        count_a_vote_that_fails()
    assert held == [1]
    assert counted(limit) == 0
    with limit.reserve():
        pass
    assert counted(limit) == 1


def test_reserve_over_the_limit_raises_exceeded_and_runs_nothing(poll, limit_two):
    limit = limit_for(poll)
    assert (limit.take(), limit.take(), limit.take()) == (True, True, False)
    ran = []
    with pytest.raises(AddressLimit.Exceeded) as exceeded, limit.reserve():
        ran.append(True)
    assert not ran
    assert exceeded.value.retry_after == limit.retry_after
    assert 0 < limit.retry_after <= 3600
    assert counted(limit) == 2  # the refused attempts hold nothing


def test_a_limit_of_zero_turns_it_off(poll, settings):
    settings.POLL_IP_VOTE_LIMIT = 0
    assert {vote_from(poll).status_code for _ in range(5)} == {HTTPStatus.SEE_OTHER}


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "192.0.2.1"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),
        (2, "198.51.100.1", "192.0.2.1"),  # fewer entries than proxies: not trusted
        (1, "", "192.0.2.1"),
        (1, " , ", "192.0.2.1"),
        # A proxy may write the port, or Forwarded: syntax; each port is the same address.
        (1, "198.51.100.1:4711", "198.51.100.1"),
        (1, "[2001:db8::1]:4711", "2001:db8::1"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, 'for="[2001:db8::1]:4711"', "2001:db8::1"),
        (1, "for=198.51.100.1;proto=https", "198.51.100.1"),
        (1, "For=198.51.100.1:80", "198.51.100.1"),
    ],
)
def test_client_address(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_the_limit_counts_and_votes_count_when_the_cache_is_down(poll, limit_two, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
        },
    }
    statuses = [vote_from(poll).status_code for _ in range(3)]
    assert statuses == [HTTPStatus.SEE_OTHER, HTTPStatus.SEE_OTHER, HTTPStatus.TOO_MANY_REQUESTS]
    assert Vote.objects.count() == 2


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
        ("", ""),
    ],
)
def test_limited_network(address, network):
    assert limited_network(address) == network


def test_addresses_of_one_ipv6_subscriber_share_the_limit(poll, limit_two):
    statuses = [vote_from(poll, f"2001:db8:1:2::{n}").status_code for n in range(1, 4)]
    assert statuses == [HTTPStatus.SEE_OTHER, HTTPStatus.SEE_OTHER, HTTPStatus.TOO_MANY_REQUESTS]
    assert vote_from(poll, "2001:db8:1:3::1").status_code == HTTPStatus.SEE_OTHER


def test_an_ipv4_address_written_as_ipv6_is_the_same_address(poll, limit_two):
    vote_from(poll, "203.0.113.5")
    vote_from(poll, "203.0.113.5")
    assert vote_from(poll, "::ffff:203.0.113.5").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_counts_of_past_hours_are_deleted_by_the_first_vote_of_a_new_hour(
    poll, make_poll, limit_two, monkeypatch
):
    limit = limit_for(poll)
    AddressVoteCount.objects.create(poll=make_poll(), hour=limit.hour - 1, address_key="x" * 64)
    monkeypatch.setattr(ratelimit, "_forgotten_before", limit.hour - 1)  # last hour's, so far

    vote_from(poll)

    assert list(AddressVoteCount.objects.values_list("hour", "votes")) == [(limit.hour, 1)]


def test_a_process_looks_for_past_hours_once_an_hour(poll, limit_two, monkeypatch):
    monkeypatch.setattr(ratelimit, "_forgotten_before", 0)
    vote_from(poll, "203.0.113.1")
    with CaptureQueriesContext(connection) as queries:
        vote_from(poll, "203.0.113.2")  # another address, the same hour
    assert not [q for q in queries if q["sql"].startswith("DELETE")]
    assert AddressVoteCount.objects.count() == 2


def test_a_voter_who_already_voted_is_told_so_even_when_the_limit_is_reached(poll, limit_two):
    voter = Client(REMOTE_ADDR="203.0.113.7")
    url = reverse("polls:vote", args=[poll.slug])
    voter.post(url, {"choice": poll.choices.first().pk})
    vote_from(poll)  # the address's second and last vote this hour
    response = voter.post(url, {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.CONFLICT


def test_a_count_names_no_address_and_its_key_needs_the_server_secret(poll, make_poll, limit_two):
    vote_from(poll, "203.0.113.7")
    vote_from(make_poll(), "203.0.113.7")

    first, second = AddressVoteCount.objects.order_by("poll_id")
    stored = repr(list(AddressVoteCount.objects.values()))
    assert "203.0.113.7" not in stored
    without_secret = hashlib.sha256(b"203.0.113.7").hexdigest()
    assert without_secret not in stored
    assert first.address_key != second.address_key  # not joinable across polls
    assert first.votes == second.votes == 1
