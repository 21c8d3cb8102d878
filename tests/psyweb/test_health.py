"""/healthz tells a monitor whether the database and the cache answer, and nothing more."""

import contextlib
import json
import socket
import threading
from http import HTTPStatus
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings as django_settings

from .test_errors import closed_port
from .test_settings import run_django
from .test_timeouts import HOST, serve  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

HEALTHY = {"database": "ok", "cache": "ok"}


def test_the_health_check_answers_200_when_the_database_and_the_cache_answer(client):
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == HEALTHY


def test_the_health_check_is_never_cached(client):
    response = client.get("/healthz")
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    assert not hasattr(response, "is_shared_page")


def test_the_health_check_answers_head(client):
    response = client.head("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.content == b""


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_the_health_check_takes_only_get_and_head(client, method):
    response = getattr(client, method)("/healthz")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "GET, HEAD"


def test_a_cache_that_cannot_be_reached_gives_503_without_saying_where_it_is(
    client, settings, caplog
):
    port = closed_port()
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        },
    }

    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"database": "ok", "cache": "unavailable"}
    assert str(port) not in response.text
    assert "Health check: the cache does not answer (ConnectionError" in caplog.text


def test_the_health_check_answers_over_plain_http_to_an_allowed_host_only(tmp_path):
    # With DEBUG off every other page is redirected to HTTPS; a monitor on the private
    # network asks gunicorn over plain HTTP. The Host header is checked as everywhere.
    result = run_django(
        "from django.test import Client\n"
        "for host in ('psyweb.example.org', 'evil.example'):\n"
        "    print(Client().get('/healthz', headers={'host': host}).status_code)\n"
        "print(Client().get('/legal/', headers={'host': 'psyweb.example.org'}).status_code)\n",
        SECRET_KEY="k",
        ALLOWED_HOSTS="psyweb.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
    )
    assert result.stdout.split() == ["200", "400", "301"], result.stderr


# Coming back without a restart: gunicorn reaches the real service through a relay that the
# test can shut (it then drops the connections it relays and holds new ones without a word).


class Gate:
    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.is_open = True
        self.sockets = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            with self.lock:
                self.sockets.append(client)
                if not self.is_open:
                    continue  # held, never answered
                upstream = socket.create_connection(self.target)
                self.sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def shut(self):
        with self.lock:
            self.is_open = False
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def reopen(self):
        with self.lock:
            self.is_open = True

    def close(self):
        self.stopping.set()
        self.thread.join()
        self.shut()
        for sock in [self.listener, *self.sockets]:
            sock.close()


def through_gate_to_the_database(gate_for):
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or str(db["HOST"]).startswith("/"):
        pytest.skip("needs PostgreSQL over TCP")
    gate = gate_for((db["HOST"] or HOST, int(db["PORT"] or 5432)))
    user = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    at = f"{user}@" if user else ""
    return gate, {"DATABASE_URL": f"postgres://{at}{HOST}:{gate.port}/{quote(db['NAME'])}"}


def through_gate_to_the_cache(gate_for):
    cache = django_settings.CACHES["default"]
    if cache["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        pytest.skip("needs Redis (CACHE_URL=redis://…)")
    location = urlsplit(cache["LOCATION"])
    gate = gate_for((location.hostname, location.port or 6379))
    return gate, {"CACHE_URL": f"redis://{HOST}:{gate.port}{location.path}"}


@pytest.fixture
def gate_for():
    gates = []

    def make(target):
        gates.append(Gate(target))
        return gates[-1]

    yield make
    for gate in gates:
        gate.close()


@pytest.mark.parametrize(
    ("service", "through_gate"),
    [
        pytest.param(
            "database", through_gate_to_the_database, marks=pytest.mark.postgresql, id="database"
        ),
        pytest.param("cache", through_gate_to_the_cache, id="cache"),
    ],
)
def test_the_health_check_returns_to_200_by_itself_when_a_service_comes_back(
    serve,  # noqa: F811 - the fixture imported above
    gate_for,
    tmp_path,
    service,
    through_gate,
):
    gate, env = through_gate(gate_for)
    site = serve(
        **{
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
            **env,
        }
    )

    def health():
        status, _, body, seconds = site.request("GET", "/healthz")
        return status, json.loads(body), seconds

    assert health()[:2] == (HTTPStatus.OK, HEALTHY)
    gate.shut()
    status, body, seconds = health()
    assert (status, body[service]) == (HTTPStatus.SERVICE_UNAVAILABLE, "unavailable")
    assert seconds < 10
    gate.reopen()
    assert health()[:2] == (HTTPStatus.OK, HEALTHY)
    assert site.process.poll() is None
    assert site.log().count("Booting worker") == 1  # the same worker answered throughout
