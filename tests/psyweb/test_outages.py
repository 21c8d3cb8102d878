"""Only real outages read as outages: a busy database is logged and explained as busy.

Every error here is produced by a real database (PostgreSQL, or a SQLite file), then answered
by DatabaseOutageMiddleware as a request that met it would be.
"""

import contextlib
import json
import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from axes.handlers.proxy import AxesProxyHandler
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.db.utils import ConnectionHandler
from django.test import Client, RequestFactory
from django.urls import reverse

from polls.models import Choice, Vote
from psyweb.middleware import DatabaseOutageMiddleware

from .test_errors import closed_port

BUSY_PAGE = "PsyWeb is busy just now"
OUTAGE_PAGE = "We cannot reach our database just now"


def answer(exception, path="/", **headers):
    request = RequestFactory().get(path, headers=headers)
    return DatabaseOutageMiddleware(lambda request: None).process_exception(request, exception)


def error_from(work):
    """The OperationalError, as Django raises it, that `work()` meets."""
    with pytest.raises(OperationalError) as raised:
        work()
    return raised.value


def in_another_connection(work):
    """Run work() in a thread of its own, on its own connection; return what it returns."""

    def run():
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@contextlib.contextmanager
def row_locked_elsewhere(choice):
    """Hold a lock on the choice's row, in another connection, while the block runs."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Choice.objects.select_for_update().get(pk=choice.pk)
            locked.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=in_another_connection, args=[hold])
    thread.start()
    try:
        assert locked.wait(timeout=10)
        yield
    finally:
        release.set()
        thread.join()


# Real errors from PostgreSQL


def statement_timeout(choice):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 50")
        cursor.execute("SELECT pg_sleep(2)")


def lock_timeout(choice):
    with row_locked_elsewhere(choice), transaction.atomic():
        connection.cursor().execute("SET LOCAL lock_timeout = 50")
        Choice.objects.select_for_update().get(pk=choice.pk)


def serialization_failure(choice):
    one_more = {"folded_votes": F("folded_votes") + 1}
    with transaction.atomic():
        connection.cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        Choice.objects.get(pk=choice.pk)  # the transaction's snapshot is taken here
        in_another_connection(lambda: Choice.objects.filter(pk=choice.pk).update(**one_more))
        Choice.objects.filter(pk=choice.pk).update(**one_more)


def deadlock(choice):
    first, second = choice.poll.choices.values_list("pk", flat=True)[:2]
    both_hold_one = threading.Barrier(2)

    def lock_in_turn(pks):
        try:
            with transaction.atomic():
                for pk in pks:
                    Choice.objects.select_for_update().get(pk=pk)
                    if pk == pks[0]:
                        both_hold_one.wait(timeout=10)
        except OperationalError as error:
            return error
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(in_another_connection, lambda pks=pks: lock_in_turn(pks))
            for pks in ([first, second], [second, first])
        ]
        errors = [run.result(timeout=30) for run in runs]
    (error,) = [error for error in errors if error is not None]  # PostgreSQL picks one
    raise error


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("make_error", "reason"),
    [
        (deadlock, "deadlock detected"),
        (serialization_failure, "serialization failure"),
        (statement_timeout, "statement timeout"),
        (lock_timeout, "lock not available"),
    ],
    ids=["deadlock", "serialization failure", "statement timeout", "lock timeout"],
)
def test_a_busy_postgresql_is_answered_as_busy_not_as_an_outage(make_error, reason, poll, caplog):
    error = error_from(lambda: make_error(poll.choices.first()))

    response = answer(error)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert BUSY_PAGE in response.text
    assert OUTAGE_PAGE not in response.text
    assert [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "psyweb.middleware"
    ] == [(logging.WARNING, f"Database busy ({reason}), answered 503")]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_json_request_meeting_a_busy_postgresql_gets_json(poll):
    error = error_from(lambda: statement_timeout(poll.choices.first()))

    response = answer(error, "/polls/x/results.json")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "error": "The site is busy just now. Please try again in a moment."
    }


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_a_vote_waiting_too_long_for_a_lock_gets_the_busy_answer_and_is_not_counted(
    poll, accept, caplog
):
    choice = poll.choices.first()
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '100ms'")
    try:
        with row_locked_elsewhere(choice):
            response = Client().post(
                reverse("polls:vote", args=[poll.slug]),
                {"choice": choice.pk},
                headers={"Sec-Fetch-Site": "same-origin", "Accept": accept},
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"] == "5"
    if accept == "application/json":
        assert "busy" in response.json()["error"]
    else:
        assert BUSY_PAGE in response.text
        assert '<nav aria-label="Main">' in response.text
    assert "Database busy (lock not available), answered 503" in caplog.text
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert Choice.objects.with_votes().get(pk=choice.pk).votes == 0
    assert not Vote.objects.exists()


# Real errors from SQLite, and from a database that cannot be reached


def test_a_locked_sqlite_database_is_answered_as_busy(tmp_path, caplog, django_db_blocker):
    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock
    databases = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path),
                     "OPTIONS": {"timeout": 0.05}}}
    )  # fmt: skip
    try:
        with django_db_blocker.unblock():
            error = error_from(
                lambda: databases["default"].cursor().execute("INSERT INTO t VALUES (1)")
            )
    finally:
        databases.close_all()
        writer.close()

    response = answer(error)

    assert (response.status_code, response["Retry-After"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "5")
    assert BUSY_PAGE in response.text
    assert "Database busy (database is locked), answered 503" in caplog.text


def test_a_database_that_cannot_be_reached_is_answered_as_an_outage(caplog, django_db_blocker):
    # The other side of the line: a refused connection is an outage, not a busy database.
    databases = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1",
                     "PORT": closed_port(), "NAME": "psyweb"}}
    )  # fmt: skip
    with django_db_blocker.unblock():
        error = error_from(lambda: databases["default"].cursor())

    response = answer(error)

    assert (response.status_code, response["Retry-After"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "30")
    assert OUTAGE_PAGE in response.text
    assert BUSY_PAGE not in response.text
    record = next(r for r in caplog.records if r.name == "psyweb.middleware")
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Database unavailable, answered 503")


@pytest.mark.django_db
def test_a_sign_in_while_redis_is_down_gets_the_503_page_not_a_server_error(
    settings, admin_user, monkeypatch
):
    """Sign-in throttling (django-axes) keeps its counts in the cache: with Redis unreachable,
    the sign-in is refused with the outage page, never let through unthrottled, never a 500."""
    # axes keeps its handler, and the cache it opened, for the life of the process: a fresh one
    # here opens the unreachable Redis below; the one before comes back after the test.
    monkeypatch.setattr(AxesProxyHandler, "implementation", None)
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    client = Client(raise_request_exception=False)
    response = client.post(reverse("admin:login"), {"username": "admin", "password": "password"})
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "Please try again in a minute." in response.text
    assert "_auth_user_id" not in client.session
