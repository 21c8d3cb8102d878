"""gunicorn.conf.py: gunicorn believes no forwarding header, not even from loopback.

Django reads the proxy's headers itself (SECURE_PROXY_SSL_HEADER, TRUSTED_PROXY_COUNT). If
gunicorn also set the scheme from X-Forwarded-Proto, any local process (or a client, behind a
proxy that passes the header on) could make a plain-HTTP request look secure.
"""

import http.client
import os
import subprocess
import sys
import time

import pytest

from .conftest import HOST, ROOT, free_port, port_open


@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn with gunicorn.conf.py and production settings on a free loopback port."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DEBUG"))},
        "GUNICORN_BIND": f"{HOST}:{port}",
        "WEB_CONCURRENCY": "1",
        "DEBUG": "False",
        "SECRET_KEY": "tests-only",
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
    }
    env.pop("FORWARDED_ALLOW_IPS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-Protocol": "ssl"},
        {"X-Forwarded-Ssl": "on"},
    ],
)
def test_a_forwarded_scheme_from_loopback_does_not_make_plain_http_secure(gunicorn, header):
    connection = http.client.HTTPConnection(HOST, gunicorn, timeout=10)
    connection.request("GET", "/legal/", headers=header)
    response = connection.getresponse()

    # Still plain HTTP to Django, which therefore sends the reader to HTTPS.
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}:{gunicorn}/legal/"
