"""An answer about antidepressants is health data: nothing stored may lead back to the voter."""

import pickle
import uuid
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from polls.models import Selection, Vote

pytestmark = pytest.mark.django_db

ADDRESSES = ["203.0.113.77", "198.51.100.23", "2001:db8::5"]
FORWARDED = "192.0.2.200"
JSON = {"Accept": "application/json"}


def everything_in_the_database():
    """Every value of every row of every table, as text."""
    text = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            text.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(text)


def everything_in_the_cache():
    """Every key and value in the shared cache, as text."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("RedisCache"):
        client = cache._cache.get_client()
        return "\n".join(f"{key!r} {client.get(key)!r}" for key in client.scan_iter())
    if backend.endswith("FileBasedCache"):
        texts = []
        for path in Path(cache._dir).glob("*.djcache"):
            with path.open("rb") as file:
                pickle.load(file)  # noqa: S301 - our own cache's expiry header
                value = pickle.loads(zlib.decompress(file.read()))  # noqa: S301
            # A stored page (psyweb.pagecache.CachedPage) is shown with its headers and bytes.
            texts.append(repr(vars(value)) if hasattr(value, "__dict__") else repr(value))
        return "\n".join(texts)
    raise AssertionError(f"Unexpected cache backend {backend}")


def test_no_client_address_is_stored_anywhere_after_voting(
    make_poll, make_article, admin_user, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    poll = make_poll()
    article = make_article(poll=poll)
    url = reverse("polls:vote", args=[poll.slug])
    for n, address in enumerate(ADDRESSES):
        visitor = Client(REMOTE_ADDR=address, headers={"x-real-ip": address})
        visitor.get(article.get_absolute_url())  # kept in the page cache
        visitor.get(f"{poll.get_absolute_url()}?from={n}")
        visitor.get(reverse("polls:state", args=[poll.slug]))
        if n % 2:
            visitor.post(url, {"choice": poll.choices.first().pk}, headers=JSON)
        else:
            visitor.post(url, {"choice": poll.choices.first().pk})
        visitor.post(url, {"choice": poll.choices.first().pk})  # and a refused second try
        visitor.get(reverse("polls:voted", args=[poll.slug]))
    signed_in = Client(REMOTE_ADDR=ADDRESSES[0], headers={"x-forwarded-for": FORWARDED})
    signed_in.force_login(admin_user)
    signed_in.post(url, {"choice": poll.choices.last().pk})

    assert poll.ballots.count() == len(ADDRESSES) + 1
    cached = everything_in_the_cache()
    assert cached  # the limit ran and left its salt and counters: they are checked too
    assert "Total votes" in cached  # and the pages kept for readers are checked too
    stored = everything_in_the_database() + cached
    for address in [*ADDRESSES, FORWARDED]:
        assert address not in stored


def test_a_ballot_holds_no_user_id_or_token(poll, admin_user):
    visitor = Client()
    visitor.force_login(admin_user)
    visitor.post(reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk})
    ballot = poll.ballots.get()
    field_names = {field.name for field in ballot._meta.get_fields()}
    assert field_names == {"id", "poll", "choices", "selections", "voter_key"}
    assert {field.name for field in Selection._meta.concrete_fields} == {"id", "vote", "choice"}
    assert len(ballot.voter_key) == 64
    assert str(admin_user.pk) != ballot.voter_key
    assert admin_user.username not in ballot.voter_key


def test_anonymous_voter_key_is_not_the_cookie_token(client, poll):
    response = client.post(
        reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk}
    )
    token = response.cookies["psyweb_voter"].value.split(":")[0]
    assert token not in poll.ballots.get().voter_key


def test_one_voters_ballots_in_two_polls_cannot_be_joined(make_poll, admin_user):
    one, two = make_poll(), make_poll()
    anonymous, signed_in = Client(), Client()
    signed_in.force_login(admin_user)
    for visitor in (anonymous, signed_in):
        for poll in (one, two):
            visitor.post(
                reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk}
            )
    keys = list(Vote.objects.values_list("voter_key", flat=True))
    assert len(keys) == len(set(keys)) == 4


def test_ballot_ids_do_not_give_away_the_order_of_voting(poll):
    for _ in range(3):
        Client().post(reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk})
    ids = list(Vote.objects.values_list("pk", flat=True))
    assert all(isinstance(ballot_id, uuid.UUID) and ballot_id.version == 4 for ballot_id in ids)
    assert not {field.name for field in Vote._meta.get_fields()} & {"created", "created_at", "time"}


def test_pages_kept_for_every_reader_hold_no_voters_answer_or_token(make_article, poll):
    article = make_article(poll=poll)
    voter = Client()
    voted = voter.post(
        reverse("polls:vote", args=[poll.slug]),
        {"choice": poll.choices.last().pk, "next": article.get_absolute_url()},
    )
    token = voted.cookies["psyweb_voter"].value.split(":")[0]
    for url in (
        article.get_absolute_url(),
        poll.get_absolute_url(),
        reverse("polls:results", args=[poll.slug]),
        reverse("polls:results_json", args=[poll.slug]),
        reverse("articles:index"),
    ):
        assert voter.get(url).status_code == 200, url
    cached = everything_in_the_cache()
    assert article.title in cached  # the pages were stored
    assert token not in cached
    assert "psyweb_voter" not in cached
    assert "(your answer)" not in cached
    assert "Thank you for voting" not in cached


def test_the_voters_own_pages_are_never_stored_by_a_cache(client, poll):
    voted = client.post(
        reverse("polls:vote", args=[poll.slug]), {"choice": poll.choices.first().pk}
    )
    own = [
        voted,
        client.get(voted["Location"]),
        client.get(reverse("polls:state", args=[poll.slug])),
        client.post(
            reverse("polls:vote", args=[poll.slug]),
            {"choice": poll.choices.first().pk},
            headers={"Accept": "application/json"},
        ),
    ]
    for response in own:
        assert "private" in response["Cache-Control"]
        assert "no-store" in response["Cache-Control"]
    assert "Thank you for voting" not in everything_in_the_cache()
