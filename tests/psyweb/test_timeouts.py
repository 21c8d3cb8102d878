"""A database or a cache that hangs costs a request seconds, not a worker killed after 30.

Each test runs gunicorn (gunicorn.conf.py, one worker) against a server of its own that accepts
connections and never answers, as a hung PostgreSQL or Redis, or a network that drops the
packets, would. The helpers here serve test_health.py too.
"""

import contextlib
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http import HTTPStatus
from pathlib import Path

import pytest

from .test_settings import PRELUDE, run_django

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word."""

    def __init__(self):
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                self.held.append(self.listener.accept()[0])

    def close(self):
        self.stopping.set()
        self.thread.join()
        for sock in [self.listener, *self.held]:
            sock.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class Gunicorn:
    """The site under gunicorn with gunicorn.conf.py, one worker, on a unix socket.

    Static files are served by their plain names (tests do not run collectstatic): gunicorn
    loads the site through a two-line module that sets that, as test_settings.PRELUDE does.
    """

    def __init__(self, folder, **env):
        self.folder = Path(folder)
        self.folder.mkdir(exist_ok=True)
        self.socket_path = self.folder / "gunicorn.sock"
        (self.folder / "site_for_tests.py").write_text(
            PRELUDE + "from psyweb.wsgi import application  # noqa: E402, F401\n"
        )
        drop = {
            "DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "TRUSTED_PROXY_COUNT",
            "WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_CMD_ARGS", "GUNICORN_CONTROL_SOCKET",
            "FORWARDED_ALLOW_IPS",
        }  # fmt: skip
        self.env = {key: value for key, value in os.environ.items() if key not in drop}
        self.env.update(
            DJANGO_SETTINGS_MODULE="psyweb.settings",
            SECRET_KEY="timeout-tests-only-not-a-secret",
            ALLOWED_HOSTS="localhost",
            SECURE_SSL_REDIRECT="False",
            SESSION_COOKIE_SECURE="False",
            CSRF_COOKIE_SECURE="False",
            MEDIA_ROOT=str(self.folder / "media"),
            GUNICORN_BIND=f"unix:{self.socket_path}",
            WEB_CONCURRENCY="1",
        )
        self.env.update(env)
        self.log_path = self.folder / "gunicorn.log"
        self.process = None

    def start(self):
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                 "--pythonpath", str(self.folder), "site_for_tests:application"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        # Ready once the worker answers a request that needs neither the database nor the cache.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            with contextlib.suppress(OSError):
                if self.request("POST", "/favicon.ico", timeout=5)[0] == 405:
                    return self
            time.sleep(0.1)
        pytest.fail(f"gunicorn did not start:\n{self.log()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def request(self, method, path, *, body=None, headers=None, timeout=20):
        """(status, headers, body, seconds taken). Raises on no answer within `timeout`."""
        connection = UnixHTTPConnection(str(self.socket_path), timeout)
        started = time.monotonic()
        try:
            connection.request(
                method, path, body=body, headers={"Host": "localhost", **(headers or {})}
            )
            response = connection.getresponse()
            content = response.read()
            return response.status, response.headers, content, time.monotonic() - started
        finally:
            connection.close()


@pytest.fixture
def serve():
    """serve(**env) starts the site under gunicorn with these settings; stopped after the test."""
    started = []
    # A short path: a unix socket's path must fit in about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="psyweb-") as folder:

        def start(**env):
            server = Gunicorn(Path(folder) / str(len(started)), **env)
            started.append(server)
            return server.start()

        try:
            yield start
        finally:
            for server in started:
                server.stop()


@pytest.fixture
def site_with_a_poll(tmp_path):
    """A migrated SQLite database holding one open poll: (DATABASE_URL, slug, choice id, path)."""
    database = tmp_path / "db.sqlite3"
    url = f"sqlite:///{database}"
    result = run_django(
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from polls.models import Poll\n"
        "poll = Poll.objects.create(question='Do you sleep well?', slug='sleep')\n"
        "print(poll.choices.create(text='Yes', order=1).pk)\n"
        "poll.choices.create(text='No', order=2)\n",
        SECRET_KEY="k",
        DATABASE_URL=url,
        CACHE_URL=f"filecache://{tmp_path / 'setup-cache'}",
    )
    assert result.returncode == 0, result.stderr
    return url, "sleep", int(result.stdout.strip()), database


def votes_for(database, choice_id):
    with contextlib.closing(sqlite3.connect(database)) as db:
        query = (  # the votes folded into the answer's row, and its counter slots'
            "SELECT votes + COALESCE((SELECT sum(s.votes) FROM polls_choiceslot s"
            " WHERE s.choice_id = c.id), 0) FROM polls_choice c WHERE c.id = ?"
        )
        return db.execute(query, [choice_id]).fetchone()[0]


# A database that never answers


def test_a_hung_database_gets_the_503_page_within_seconds(serve, silent_server, tmp_path):
    site = serve(
        DATABASE_URL=f"postgres://psyweb@{HOST}:{silent_server.port}/psyweb",
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
    )

    status, headers, page, seconds = site.request("GET", "/")

    assert (status, headers["Retry-After"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "30")
    assert b"PsyWeb is briefly unavailable" in page
    assert seconds < 10
    assert silent_server.held, "the site never tried the database"


def test_a_hung_database_turns_the_health_check_to_503_within_seconds(
    serve, silent_server, tmp_path
):
    site = serve(
        DATABASE_URL=f"postgres://psyweb@{HOST}:{silent_server.port}/psyweb",
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
    )

    status, _, body, seconds = site.request("GET", "/healthz")

    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert body == b'{"database": "unavailable", "cache": "ok"}'
    assert seconds < 10


@pytest.mark.postgresql
def test_a_statement_running_longer_than_the_statement_timeout_is_cancelled():
    result = run_django(
        "import time\n"
        "from django.db import OperationalError, connection\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    connection.cursor().execute('SELECT pg_sleep(5)')\n"
        "except OperationalError as error:\n"
        "    print(error.__cause__.pgcode, round(time.monotonic() - started, 1))\n",
        SECRET_KEY="k",
        DATABASE_STATEMENT_TIMEOUT="0.5",
    )
    assert result.stdout.split()[:1] == ["57014"], result.stderr  # query_canceled
    assert float(result.stdout.split()[1]) < 2


@pytest.mark.postgresql
def test_the_statement_timeout_is_five_seconds_unless_set():
    result = run_django(
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SHOW statement_timeout')\n"
        "    print(cursor.fetchone()[0])\n",
        SECRET_KEY="k",
    )
    assert result.stdout.strip() == "5s", result.stderr


@pytest.mark.postgresql
def test_the_site_stops_waiting_for_an_answer_after_the_wait_timeout():
    result = run_django(
        "import time\n"
        "from django.db import OperationalError, connection\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    connection.cursor().execute('SELECT pg_sleep(5)')\n"
        "except OperationalError as error:\n"
        "    print(round(time.monotonic() - started, 1), error)\n",
        SECRET_KEY="k",
        DATABASE_STATEMENT_TIMEOUT="0",  # the server would wait: only the site's limit applies
        DATABASE_WAIT_TIMEOUT="1",
    )
    seconds, _, message = result.stdout.partition(" ")
    assert message.strip() == "The database did not answer within 1 s.", result.stderr
    assert 0.9 < float(seconds) < 2.5


class FreezableRelay:
    """Relays TCP to a real server until frozen; then it swallows what it gets and says nothing.

    A server whose process has stopped, or a network path that still acknowledges packets,
    looks like this to the client: the connection stays open, and no answer ever comes.
    """

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.frozen.is_set():
                    sink.sendall(data)

    def close(self):
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.mark.postgresql
def test_a_database_that_hangs_on_an_open_connection_is_given_up_on(settings):
    import psycopg2

    settings.DATABASE_WAIT_TIMEOUT = 1
    database = settings.DATABASES["default"]
    relay = FreezableRelay((database["HOST"] or HOST, int(database["PORT"] or 5432)))
    try:
        connection = psycopg2.connect(
            host=HOST, port=relay.port, dbname=database["NAME"], user=database["USER"] or None
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # an open connection that works
        relay.frozen.set()

        outcome = []

        def query():  # in a thread: without the limit it would never return
            started = time.monotonic()
            try:
                connection.cursor().execute("SELECT 1")
            except psycopg2.OperationalError as error:
                outcome.append((str(error), time.monotonic() - started))

        waiting = threading.Thread(target=query, daemon=True)
        waiting.start()
        waiting.join(timeout=5)
        assert outcome, "the query was still waiting after 5 s"
        message, seconds = outcome[0]
        assert message == "The database did not answer within 1 s."
        assert seconds < 2.5
    finally:
        relay.close()


# A cache that never answers


def test_with_a_hung_cache_a_page_and_a_vote_still_answer_within_seconds(
    serve, silent_server, site_with_a_poll
):
    database_url, slug, choice_id, database = site_with_a_poll
    site = serve(DATABASE_URL=database_url, CACHE_URL=f"redis://{HOST}:{silent_server.port}/0")

    status, _, page, page_seconds = site.request("GET", f"/polls/{slug}/")
    assert status == HTTPStatus.OK
    assert b"Do you sleep well?" in page

    status, headers, _, vote_seconds = site.request(
        "POST",
        f"/polls/{slug}/vote/",
        body=f"choice={choice_id}",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert status == HTTPStatus.SEE_OTHER
    assert headers["Location"] == f"/polls/{slug}/voted/"
    assert votes_for(database, choice_id) == 1

    # The page looks in the cache and stores itself there: a second each, at most.
    assert page_seconds < 3.5
    assert vote_seconds < 2
    assert silent_server.held, "the site never tried the cache"


def test_a_hung_cache_turns_the_health_check_to_503_within_seconds(
    serve, silent_server, site_with_a_poll
):
    database_url, *_ = site_with_a_poll
    site = serve(DATABASE_URL=database_url, CACHE_URL=f"redis://{HOST}:{silent_server.port}/0")

    status, _, body, seconds = site.request("GET", "/healthz")

    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert body == b'{"database": "ok", "cache": "unavailable"}'
    assert seconds < 3.5  # the page cache's look-up, then the check's own write: 1 s each
