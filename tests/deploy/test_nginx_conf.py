"""deploy/nginx.conf, rendered as `make serve` renders it, in front of a stand-in for Django.

The stand-in listens on the unix socket gunicorn would, answers each path with the caching
headers under test, and counts the requests that reach it, so that what nginx keeps, what it
passes on and what it refuses can be checked independently of the site's own headers.
"""

import collections
import contextlib
import json
import os
import signal
import socketserver
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import pytest

from .conftest import free_port, load_launcher, port_open, request, wait_until

SHARED = "public, max-age=0, s-maxage=1"  # what Django sends with a reader's page


class Upstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        super().__init__(str(path), Handler)
        self.hits = collections.Counter()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    """Answers by path; /echo returns the request's headers as JSON."""

    def do_GET(self):
        path = self.path.split("?")[0]
        with self.server.lock:
            self.server.hits[path] += 1
        headers = {}
        if path.startswith("/shared"):
            headers["Cache-Control"] = SHARED
        elif path.startswith("/accel"):
            # Django's own form: an absolute expiry, read before Cache-Control.
            headers["Cache-Control"] = SHARED
            headers["X-Accel-Expires"] = f"@{int(time.time()) + 30}"
        elif path.startswith("/slow"):
            time.sleep(1)
            headers["Cache-Control"] = SHARED
        elif path.startswith("/private"):
            headers["Cache-Control"] = "private, no-store"
        elif path.startswith("/cookie"):
            headers["Cache-Control"] = SHARED
            headers["Set-Cookie"] = "voter=1; Path=/"
        body = b"page " + path.encode()
        if path == "/echo":
            body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        received = len(self.rfile.read(length))
        body = json.dumps({"received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def front(nginx, tmp_path_factory):
    """nginx from the template, in front of the stand-in; (port, upstream, static folder)."""
    tmp = tmp_path_factory.mktemp("nginx")
    run_dir, static, media = tmp / "run", tmp / "static", tmp / "media"
    for folder in (run_dir, static / "css", media):
        folder.mkdir(parents=True)
    (static / "css" / "site.css").write_text("body {}\n")
    (static / "css" / "site.0123456789ab.css").write_text("body {}\n")
    (media / "photo.jpg").write_bytes(b"\xff\xd8\xff")

    upstream = Upstream(tmp / "gunicorn.sock")
    threading.Thread(target=upstream.serve_forever, daemon=True).start()

    launcher = load_launcher()
    port = free_port()
    config = run_dir / "nginx.conf"
    config.write_text(
        launcher.render_config(
            launcher.TEMPLATE.read_text(),
            run_dir=run_dir,
            port=port,
            upstream=f"unix:{tmp / 'gunicorn.sock'}",
            static_root=static,
            media_root=media,
            as_root=os.geteuid() == 0,
        )
    )
    log = (tmp / "nginx.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - nginx, fixed arguments
        [nginx, "-p", f"{run_dir}/", "-c", str(config), "-e", "stderr"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if not wait_until(lambda: port_open(port) or process.poll() is not None, 10):
            pytest.fail("nginx did not start listening")
        assert process.poll() is None, (tmp / "nginx.log").read_text()
        yield port, upstream
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        log.close()
        upstream.shutdown()
        upstream.server_close()


def get(front, path, **headers):
    port, _ = front
    return request(port, "GET", path, headers=headers)


def cache_status(front, path, **headers):
    return get(front, path, **headers).header("X-Cache-Status")


def test_a_page_marked_public_s_maxage_is_served_from_the_cache(front):
    _, upstream = front
    assert cache_status(front, "/shared-1") == "MISS"
    assert cache_status(front, "/shared-1") == "HIT"
    assert upstream.hits["/shared-1"] == 1


def test_x_accel_expires_decides_and_is_not_passed_on(front):
    _, upstream = front
    first = get(front, "/accel-1")
    assert first.header("X-Cache-Status") == "MISS"
    assert first.header("X-Accel-Expires") is None
    assert first.header("Cache-Control") == SHARED  # passed on as Django sent it
    time.sleep(2.1)  # past s-maxage=1, within X-Accel-Expires
    assert cache_status(front, "/accel-1") == "HIT"
    assert upstream.hits["/accel-1"] == 1


@pytest.mark.parametrize("path", ["/private-1", "/plain-1", "/cookie-1"])
def test_private_unmarked_and_cookie_setting_responses_are_never_stored(front, path):
    _, upstream = front
    statuses = [cache_status(front, path) for _ in range(3)]
    assert "HIT" not in statuses
    assert upstream.hits[path] == 3


def test_a_session_cookie_bypasses_the_cache_and_never_fills_it(front):
    _, upstream = front
    staff = {"Cookie": "sessionid=abc"}
    assert cache_status(front, "/shared-2", **staff) == "BYPASS"
    assert cache_status(front, "/shared-2") == "MISS"  # the staff copy was not stored
    assert cache_status(front, "/shared-2") == "HIT"
    assert cache_status(front, "/shared-2", **staff) == "BYPASS"  # nor is it served to staff
    assert upstream.hits["/shared-2"] == 3


def test_concurrent_misses_go_to_django_once(front):
    _, upstream = front
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: cache_status(front, "/slow-1"), range(8)))
    assert upstream.hits["/slow-1"] == 1, statuses


def test_while_a_page_is_refreshed_the_others_get_the_previous_copy(front):
    _, upstream = front
    assert cache_status(front, "/slow-2") == "MISS"
    time.sleep(2.1)  # the copy has expired
    with ThreadPoolExecutor(2) as pool:
        refreshing = pool.submit(cache_status, front, "/slow-2")
        time.sleep(0.3)  # the refresh is under way (the stand-in takes 1 s)
        started = time.monotonic()
        assert cache_status(front, "/slow-2") == "UPDATING"
        assert time.monotonic() - started < 0.5  # answered at once, not after the refresh
        assert refreshing.result() == "EXPIRED"
    assert upstream.hits["/slow-2"] == 2


def test_the_cache_key_holds_the_host_and_the_query(front):
    assert cache_status(front, "/shared-3?page=1") == "MISS"
    assert cache_status(front, "/shared-3?page=2") == "MISS"
    assert cache_status(front, "/shared-3?page=1", Host="localhost") == "MISS"
    assert cache_status(front, "/shared-3?page=1") == "HIT"


def test_django_gets_the_host_the_client_and_the_scheme_and_browser_headers(front):
    port, _ = front
    sent = {
        "Origin": f"http://127.0.0.1:{port}",
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "navigate",
        "X-Forwarded-For": "203.0.113.9",  # a client's claim, kept, with the real one after
        "X-Forwarded-Proto": "https",  # a client's claim, replaced
    }
    seen = json.loads(get(front, "/echo", **sent).body)
    assert seen["Host"] == f"127.0.0.1:{port}"
    assert seen["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    for name in ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode"):
        assert seen[name] == sent[name]


def test_request_bodies_are_limited_and_buffered(front):
    port, _ = front
    assert request(port, "POST", "/polls/x/vote/", body=b"x" * 20_000).status == 413
    assert request(port, "POST", "/polls/x/vote/", body=b"x" * 1000).status == 200
    upload = request(port, "POST", "/admin/upload/", body=b"x" * 2_000_000)
    assert upload.status == 200
    assert json.loads(upload.body) == {"received": 2_000_000}
    too_big = request(port, "POST", "/admin/upload/", headers={"Content-Length": "11000000"})
    assert too_big.status == 413


def test_static_and_media_files_are_served_by_nginx(front):
    hashed = get(front, "/static/css/site.0123456789ab.css")
    assert hashed.status == 200
    assert hashed.header("Cache-Control") == "public, max-age=315360000, immutable"
    assert hashed.header("Content-Type") == "text/css; charset=utf-8"
    assert hashed.header("X-Content-Type-Options") == "nosniff"
    assert get(front, "/static/css/site.css").header("Cache-Control") == "public, max-age=60"
    photo = get(front, "/media/photo.jpg")
    assert photo.status == 200
    assert photo.header("Content-Type") == "image/jpeg"
    # Nothing outside the two folders: the path is decoded and normalised before it is mapped.
    outside = get(front, "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd")
    assert outside.status in (400, 404)
    assert b"root:" not in outside.body
    _, upstream = front
    assert not any(path.startswith(("/static", "/media")) for path in upstream.hits)


def test_the_template_has_no_unbounded_caching():
    template = load_launcher().TEMPLATE.read_text()
    directives = [line.split("#")[0] for line in template.splitlines()]
    assert not any("proxy_cache_valid" in line for line in directives)
    assert not any("proxy_cache_background_update" in line for line in directives)
    assert any("access_log off;" in line for line in directives)
