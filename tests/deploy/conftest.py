"""Helpers for the deployment tests: nginx in front of gunicorn, run for real on 127.0.0.1.

These tests need nginx. Without it they are skipped, unless REQUIRE_NGINX is set (CI sets
it), in which case they fail.
"""

import contextlib
import http.client
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # the only address these tests ever connect to
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # where Debian puts nginx; `make serve` looks too


def find_nginx():
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


@pytest.fixture(scope="session")
def nginx():
    """The nginx binary; skips the test without one (fails it when REQUIRE_NGINX is set)."""
    found = find_nginx()
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("REQUIRE_NGINX"):
            pytest.fail(f"{message}, and REQUIRE_NGINX is set")
        pytest.skip(f"{message}; set REQUIRE_NGINX=1 to fail instead of skipping")
    return found


def load_launcher():
    """deploy/serve.py as a module (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("psyweb_deploy_serve", ROOT / "deploy/serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_open(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) == 0


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name):
        return self.headers.get(name)


def request(port, method, path, *, headers=None, body=None, timeout=10):
    """One HTTP request to 127.0.0.1:port, redirects not followed."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


def wait_until(condition, seconds, interval=0.1):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# --- Processes -----------------------------------------------------------------------------


def _proc_stat(pid):
    """(state, session id, start time) of a process, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[3]), int(fields[19])


def parent_pid(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def session_processes(session):
    """{pid: (start time, command line)} of the live processes in a session (not zombies)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(entry.name)
        if stat is None or stat[0] == "Z" or stat[1] != session:
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            found[int(entry.name)] = (stat[2], command)
    return found


def still_running(processes):
    """Those of `processes` ({pid: (start time, command)}) that still run (same start time)."""
    left = {}
    for pid, (started, command) in processes.items():
        stat = _proc_stat(pid)
        if stat is not None and stat[0] != "Z" and stat[2] == started:
            left[pid] = command
    return left


def server_environment(tmp, port, **extra):
    """The environment `make serve` gets: the test database, and nothing from pytest-env or an
    outer `make` that would change what is being tested."""
    drop = {
        "DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "TRUSTED_PROXY_COUNT", "PORT",
        "WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_CMD_ARGS", "GUNICORN_CONTROL_SOCKET",
        "FORWARDED_ALLOW_IPS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
    }  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        SECRET_KEY="deploy-tests-only-not-a-secret",
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        CACHE_URL=f"filecache://{tmp / 'django-cache'}",
        MEDIA_ROOT=str(tmp / "media"),
        PORT=str(port),
        WEB_CONCURRENCY="2",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory):
    """A folder with a migrated SQLite database holding the demo content."""
    tmp = tmp_path_factory.mktemp("serve")
    env = server_environment(tmp, 0)
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo"]):
        done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"manage.py {command[0]}: {done.stdout}{done.stderr}"
    (tmp / "media").mkdir()
    return tmp


class MakeServe:
    """`make serve` in a session of its own (as a terminal would run it), logging to a file."""

    def __init__(self, site_dir, log_path, **env):
        self.port = free_port()
        self.env = server_environment(site_dir, self.port, **env)
        self.log_path = log_path
        self.process = None

    def start(self, command=("make", "--no-print-directory", "serve")):
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                list(command),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def session(self):
        return self.process.pid

    def output(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, path="/articles/rejection-while-depressed/", seconds=90):
        """Wait until nginx answers `path` with 200 from Django."""
        end = time.monotonic() + seconds
        last = "no answer"
        while time.monotonic() < end:
            if self.process.poll() is not None:
                pytest.fail(f"make serve exited ({self.process.returncode}):\n{self.output()}")
            try:
                response = request(self.port, "GET", path, timeout=5)
                if response.status == 200:
                    return self
                last = f"status {response.status}"
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        pytest.fail(f"make serve did not answer {path} ({last}):\n{self.output()}")

    def processes(self):
        return session_processes(self.session)

    def wait_exit(self, seconds):
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make serve did not exit within {seconds} s:\n{self.output()}")

    def stop(self):
        """Leave nothing behind, whatever happened in the test: Ctrl-C, then SIGKILL."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.session, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        wait_until(lambda: not self.processes(), 5)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


@pytest.fixture
def make_serve(nginx, site_dir, tmp_path):
    """Start `make serve`s (killed at the end of the test, if the test has not stopped them)."""
    started = []

    def start(**env):
        server = MakeServe(site_dir, tmp_path / f"make-serve-{len(started)}.log", **env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
