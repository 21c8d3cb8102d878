"""Guessing admin passwords is throttled: by client address, and by account (django-axes).

Five failures from one address, or for one account, lock out sign-ins from that address or to
that account for the cool-off (15 minutes); a success starts the count again. The counts live
in the cache only, and expire with the cool-off.
"""

import datetime
import time
from http import HTTPStatus

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password"
LOCKED_OUT = "Too many failed sign-in attempts"
WRONG = "Please enter the correct username and password"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user("editor", password=PASSWORD, is_staff=True)


@pytest.fixture
def other_editor(django_user_model):
    return django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)


def sign_in(username, password, address="203.0.113.5", **headers):
    """One sign-in through the admin's form; (response, whether it signed the visitor in)."""
    visitor = Client(REMOTE_ADDR=address)
    response = visitor.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        headers=headers,
    )
    return response, "_auth_user_id" in visitor.session


def fail(times, username="editor", address="203.0.113.5", **headers):
    return [sign_in(username, "wrong", address, **headers)[0] for _ in range(times)]


def test_five_wrong_passwords_lock_out_the_address_and_the_account(editor):
    answers = fail(6)

    assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
    assert WRONG in answers[0].text
    response, signed_in = sign_in("editor", PASSWORD)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert not signed_in


def test_the_lockout_page_is_the_sites_own_and_says_when_to_try_again(editor):
    response = fail(5)[-1]

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert LOCKED_OUT in response.text
    assert "Please try again in 15 minutes." in response.text
    assert '<nav aria-label="Main">' in response.text


def test_another_address_signing_in_to_another_account_is_not_affected(editor, other_editor):
    fail(6, "editor", "203.0.113.5")

    response, signed_in = sign_in("other", PASSWORD, "198.51.100.7")

    assert response.status_code == HTTPStatus.FOUND
    assert signed_in


def test_one_account_guessed_at_from_many_addresses_is_locked_out(editor):
    for n in range(5):
        fail(1, "editor", f"198.51.100.{n + 1}")

    response, signed_in = sign_in("editor", PASSWORD, "192.0.2.99")

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert not signed_in


def test_one_address_guessing_at_many_accounts_is_locked_out(editor, other_editor):
    for n in range(5):
        fail(1, f"user{n}", "203.0.113.5")

    response, signed_in = sign_in("other", PASSWORD, "203.0.113.5")

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert not signed_in


def test_a_successful_sign_in_starts_the_count_again(editor):
    fail(4)
    assert sign_in("editor", PASSWORD)[0].status_code == HTTPStatus.FOUND

    assert [a.status_code for a in fail(4)] == [200] * 4


def test_the_lockout_ends_after_the_cool_off(editor, settings):
    settings.AXES_COOLOFF_TIME = datetime.timedelta(seconds=1)
    fail(5)
    assert sign_in("editor", PASSWORD)[0].status_code == HTTPStatus.TOO_MANY_REQUESTS

    time.sleep(1.5)

    response, signed_in = sign_in("editor", PASSWORD)
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in


def test_failures_and_sign_ins_leave_no_rows_in_the_database(editor):
    fail(6)
    sign_in("editor", PASSWORD, "198.51.100.7")
    sign_in("editor", PASSWORD, "192.0.2.99")

    assert not AccessAttempt.objects.exists()
    assert not AccessLog.objects.exists()
    assert not AccessFailureLog.objects.exists()


# The address is the one the vote limit counts: polls.ratelimit.client_address.


def test_a_client_cannot_escape_the_lockout_by_claiming_another_address(editor, settings):
    settings.TRUSTED_PROXY_COUNT = 0  # clients connect directly: X-Forwarded-For is theirs
    for n in range(5):
        fail(1, f"user{n}", "203.0.113.5", **{"X-Forwarded-For": f"192.0.2.{n}"})

    response, _ = sign_in("editor", PASSWORD, "203.0.113.5", **{"X-Forwarded-For": "192.0.2.99"})

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_behind_a_proxy_each_client_is_counted_by_the_address_the_proxy_saw(
    editor, other_editor, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n in range(5):
        fail(1, f"user{n}", proxy, **{"X-Forwarded-For": "203.0.113.5"})
    assert sign_in("editor", PASSWORD, proxy, **{"X-Forwarded-For": "203.0.113.5"})[
        0
    ].status_code == (HTTPStatus.TOO_MANY_REQUESTS)

    # Another reader behind the same proxy is not locked out with them.
    response, signed_in = sign_in("other", PASSWORD, proxy, **{"X-Forwarded-For": "198.51.100.7"})

    assert response.status_code == HTTPStatus.FOUND
    assert signed_in
