"""`make serve` for real: nginx on 127.0.0.1 in front of gunicorn, on a migrated SQLite database.

Each server runs in a session of its own, as a terminal runs it; Ctrl-C is SIGINT to its
foreground process group. What it started is found by session id in /proc.
"""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from .conftest import (
    ROOT,
    MakeServe,
    parent_pid,
    port_open,
    request,
    server_environment,
    still_running,
    wait_until,
)

ARTICLE = "/articles/rejection-while-depressed/"
VOTE = "/polls/antidepressants/vote/"


@pytest.fixture(scope="module")
def stack(nginx, site_dir, tmp_path_factory):
    """One `make serve` shared by the tests that only send requests."""
    server = MakeServe(site_dir, tmp_path_factory.mktemp("stack") / "make-serve.log").start()
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def is_shared(response):
    """Whether Django marked the response as one copy for every reader."""
    directives = {d.strip().split("=")[0] for d in response.header("Cache-Control").split(",")}
    return "public" in directives and "s-maxage" in directives and "private" not in directives


# --- Requests ------------------------------------------------------------------------------


def test_an_article_page_answers_through_nginx(stack):
    response = request(stack.port, "GET", ARTICLE)
    assert response.status == 200
    assert response.header("Server") == "nginx"  # and no version
    assert "text/html" in response.header("Content-Type")
    assert b"Rejection While Depressed" in response.body


def test_debug_is_off_and_plain_http_on_loopback_works(stack):
    # No redirect to HTTPS (SECURE_SSL_REDIRECT defaulted off), Host 127.0.0.1 allowed.
    missing = request(stack.port, "GET", "/no-such-page/")
    assert missing.status == 404
    assert b"URLconf" not in missing.body  # Django's DEBUG 404 page lists the URLconf
    assert request(stack.port, "GET", "/", headers={"Host": "localhost"}).status == 200
    assert request(stack.port, "GET", "/", headers={"Host": "evil.example"}).status == 400


def test_static_files_are_served_by_nginx_with_long_lifetimes_for_hashed_names(stack):
    manifest = json.loads((ROOT / "staticfiles" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/site.css"]
    assert hashed != "css/site.css"

    response = request(stack.port, "GET", f"/static/{hashed}")
    assert response.status == 200
    assert response.header("Content-Type") == "text/css; charset=utf-8"
    assert response.header("Cache-Control") == "public, max-age=315360000, immutable"
    assert response.header("X-Cache-Status") is None  # nginx's own file, not from Django
    assert response.body == (ROOT / "staticfiles" / hashed).read_bytes()

    plain = request(stack.port, "GET", "/static/css/site.css")
    assert plain.status == 200
    assert plain.header("Cache-Control") == "public, max-age=60"

    gzipped = request(stack.port, "GET", f"/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    assert gzipped.header("Content-Encoding") == "gzip"

    assert request(stack.port, "GET", "/static/no-such-file.css").status == 404


def test_nginx_keeps_exactly_the_pages_django_marks_shared(stack):
    """A second request for / is a HIT if Django marks / `public, s-maxage`, and never one if
    it does not (nginx must not invent a lifetime)."""
    first = request(stack.port, "GET", "/")
    assert first.status == 200
    assert first.header("X-Accel-Expires") is None  # nginx's, never passed on to clients
    # A page's copy may expire at a second's boundary (nginx counts whole seconds): a few
    # back-to-back tries, so that one pair falls inside a second.
    statuses = [request(stack.port, "GET", "/").header("X-Cache-Status") for _ in range(4)]
    if is_shared(first):
        assert "HIT" in statuses, statuses
    else:
        assert "HIT" not in statuses, (first.header("Cache-Control"), statuses)


def test_with_page_cache_seconds_0_nginx_keeps_no_page_and_takes_no_lock(make_serve):
    """Django then marks no page shareable, so nginx must not look in its cache at all: its
    cache lock would make the requests for a page take turns, 500 ms apart."""
    server = make_serve(PAGE_CACHE_SECONDS="0").wait_ready()
    for _ in range(3):
        response = request(server.port, "GET", ARTICLE)
        assert response.status == 200
        assert response.header("X-Cache-Status") is None  # nginx did not consult its cache
        assert "s-maxage=0" in response.header("Cache-Control")


def test_a_request_with_a_session_cookie_is_never_a_hit(stack):
    for _ in range(3):
        request(stack.port, "GET", "/")  # the shared copy is there, if Django allows one
        staff = request(stack.port, "GET", "/", headers={"Cookie": "sessionid=not-a-session"})
        assert staff.status == 200
        assert staff.header("X-Cache-Status") == "BYPASS"


def test_django_sees_the_host_with_its_port_so_a_vote_from_its_own_page_counts(stack):
    poll = request(stack.port, "GET", "/polls/antidepressants/").body.decode()
    choice = re.search(r'name="choice" value="(\d+)"', poll).group(1)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    own = {**form, "Origin": f"http://127.0.0.1:{stack.port}"}
    vote = request(stack.port, "POST", VOTE, headers=own, body=f"choice={choice}")
    assert vote.status == 303, vote.body[:500]
    elsewhere = {**form, "Origin": "http://evil.example"}
    assert request(stack.port, "POST", VOTE, headers=elsewhere, body="choice=1").status == 403


def test_bodies_over_the_limit_get_413(stack):
    vote = request(stack.port, "POST", VOTE, body=b"x" * 20_000)
    assert vote.status == 413
    # A vote-sized body passes (Django answers it, whatever it makes of it).
    small = request(stack.port, "POST", VOTE, body=b"choice=1")
    assert small.status != 413
    # Over 10 MB anywhere: refused from the Content-Length alone, before any body is sent.
    big = request(stack.port, "POST", "/admin/login/", headers={"Content-Length": "11000000"})
    assert big.status == 413


# --- Processes -----------------------------------------------------------------------------


def running_stack(server):
    """The processes of a started `make serve`, once every one of them has started."""
    workers = int(server.env["WEB_CONCURRENCY"])

    def complete():
        commands = list(server.processes().values())
        gunicorns = [c for _, c in commands if "-m gunicorn" in c]
        masters = [c for _, c in commands if c.startswith("nginx: master")]
        nginx_workers = [c for _, c in commands if c.startswith("nginx: worker")]
        return len(gunicorns) == 1 + workers and len(masters) == 1 and nginx_workers

    assert wait_until(complete, 20), server.processes()
    return server.processes()


def assert_all_gone(server, processes):
    assert wait_until(lambda: not still_running(processes), 5), still_running(processes)
    assert not server.processes()
    assert not port_open(server.port)


def test_ctrl_c_stops_every_process(make_serve):
    server = make_serve().wait_ready()
    processes = running_stack(server)
    assert any("deploy/serve.py" in command for _, command in processes.values())

    os.killpg(server.session, signal.SIGINT)  # Ctrl-C: the terminal's foreground group
    server.wait_exit(20)
    assert_all_gone(server, processes)
    assert "stopped." in server.output()


def test_sigterm_to_make_stops_every_process(make_serve):
    server = make_serve().wait_ready()
    processes = running_stack(server)
    server.process.terminate()  # to make alone, as `kill <pid>` does; make passes it on
    server.wait_exit(20)
    assert_all_gone(server, processes)
    assert "SIGTERM received" in server.output()


@pytest.mark.parametrize("victim", ["nginx", "gunicorn"])
def test_when_one_server_dies_the_other_is_stopped_and_make_serve_fails(make_serve, victim):
    server = make_serve().wait_ready()
    processes = running_stack(server)
    marker = "nginx: master" if victim == "nginx" else "-m gunicorn"
    group = {pid for pid, (_, command) in processes.items() if marker in command}
    (master,) = {pid for pid in group if parent_pid(pid) not in group}
    os.kill(master, signal.SIGKILL)
    assert server.wait_exit(30) != 0
    assert_all_gone(server, processes)
    assert f"{victim} was killed by SIGKILL" in server.output()


# --- Refusing to start ---------------------------------------------------------------------


def test_without_a_secret_key_the_settings_say_so_and_make_serve_fails(make_serve):
    server = make_serve(SECRET_KEY="")
    returncode = server.wait_exit(60)
    output = server.output()
    assert returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set." in output
    assert "Set the SECRET_KEY environment variable" in output
    assert not server.processes()


def test_without_nginx_it_names_the_package_to_install(tmp_path):
    """Needs no nginx: the launcher is run with a PATH that has none."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = server_environment(tmp_path, 0, PATH=str(empty))
    done = subprocess.run(  # noqa: S603 - our own interpreter and launcher
        [sys.executable, str(ROOT / "deploy" / "serve.py"), "--port", "8000"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "nginx is not installed" in done.stderr
    assert "apt-get install nginx-light" in done.stderr
