"""The site as it runs on several machines, all of it on this one, for the system tests.

`site` (once per module) starts, on 127.0.0.1 only, what production runs:

- a PostgreSQL primary with the site's migrated database and the demo content, and a streaming
  replica of it, each a cluster of its own (tests/scaling/clusters.py: pg_createcluster,
  pg_basebackup -R), and PgBouncer in transaction mode in front of both;
- two app servers: gunicorn with gunicorn.conf.py (psyweb.wsgi:application), DEBUG off, each on
  a port of its own, sharing the SECRET_KEY, the database (DATABASE_URL through PgBouncer, the
  replica as DATABASE_REPLICA_URLS, DATABASE_POOLER=pgbouncer) and Redis (CACHE_URL);
- nginx in front of both, with its page cache: deploy/nginx.conf rendered by deploy/serve.py,
  as `make serve` renders it, naming the two servers in its upstream.

Each process runs in a process group of its own, and everything is stopped at the end of the
module however it ended. What this machine lacks skips the tests with the reason, or fails them
where CI says it must be there: REQUIRE_NGINX (nginx), REQUIRE_REPLICA (root, Debian's
PostgreSQL server, pgbouncer), REQUIRE_REDIS (Redis, as the test run's own CACHE_URL).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.deploy.conftest import find_nginx, free_port, load_launcher, port_open, wait_until
from tests.psyweb.test_settings import run_django
from tests.scaling.clusters import (
    PgBouncer,
    ReplicatedDatabase,
    find_pgbouncer,
    missing_requirement,
    unavailable,
)

from .readers import HOST, Reader, bench

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2  # gunicorn workers per app server: two servers share this machine's two cores
VOTE_LIMIT = 10  # POLL_IP_VOTE_LIMIT: accepted votes per address, poll and hour
START_SECONDS = 60  # the longest a server may take to answer after it starts
STOP_SECONDS = 15  # gunicorn's graceful_timeout (10 s), and some
# Polls made for the tests besides the demo's: slug -> answers.
POLLS = {
    "one-ballot": ["Yes", "No"],
    "address-limit": ["Yes", "No"],
    "shows-everywhere": ["Yes", "No"],
}
# Names from the environment of the test run that would change what is being tested.
NOT_PASSED_ON = {
    "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS", "FORWARDED_ALLOW_IPS", "PORT",
    "PAGE_CACHE_SECONDS", "DATABASE_STATEMENT_TIMEOUT", "DATABASE_WAIT_TIMEOUT", "CONN_MAX_AGE",
    "DATABASE_REPLICA_MAX_LAG_SECONDS", "DATABASE_PRIMARY_STICKY_SECONDS",
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
}  # fmt: skip


def kill_group(pid):
    """SIGKILL what is left of the process group `pid` leads (a worker left behind)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class AppServer:
    """gunicorn with gunicorn.conf.py on 127.0.0.1:<port>, in a process group of its own."""

    def __init__(self, name, env, folder):
        self.name = name
        self.port = free_port()
        self.env = {**env, "GUNICORN_BIND": f"{HOST}:{self.port}"}
        self.log_path = folder / f"{name}.log"
        self.process = None

    def start(self):
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self):
        """Wait until /healthz answers 200: the database and Redis answer this server."""
        deadline = time.monotonic() + START_SECONDS
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                pytest.fail(f"{self.name} exited ({self.process.returncode}):\n{self.log()}")
            try:
                status = Reader(self.port).request("GET", "/healthz").status
                if status == 200:
                    return self
                last = f"status {status}"
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        pytest.fail(f"{self.name} did not answer /healthz ({last}):\n{self.log()}")

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def terminate(self):
        """SIGTERM, as a supervisor stops gunicorn: workers finish their request, then exit."""
        self.process.send_signal(signal.SIGTERM)

    def stop(self):
        """Stop gunicorn and its workers, politely, then by force. Safe to call twice."""
        if self.process is None:
            return
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_SECONDS)
        kill_group(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def cpu_seconds(self):
        """CPU time its processes (the master and its workers) have used so far."""
        ticks = 0
        for entry in Path("/proc").iterdir() if self.running else ():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.process.pid:  # in its process group
                    ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def log(self):
        return self.log_path.read_text(errors="replace")


class Balancer:
    """nginx from deploy/nginx.conf, rendered as `make serve` renders it, before `servers`."""

    def __init__(self, nginx, folder, servers, folders):
        launcher = load_launcher()
        self.port = free_port()
        self.run_dir = folder / "nginx"
        self.run_dir.mkdir()
        self.config = self.run_dir / "nginx.conf"
        self.config.write_text(
            launcher.render_config(
                launcher.TEMPLATE.read_text(encoding="utf-8"),
                run_dir=self.run_dir,
                port=self.port,
                upstream=[f"{HOST}:{server.port}" for server in servers],
                static_root=folders["static_root"],
                media_root=folders["media_root"],
                as_root=os.geteuid() == 0,
            ),
            encoding="utf-8",
        )
        self.command = [nginx, "-p", f"{self.run_dir}/", "-c", str(self.config), "-e", "stderr"]
        self.log_path = folder / "nginx.log"
        self.process = None

    def start(self):
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - nginx, fixed arguments
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_until(lambda: port_open(self.port) or self.process.poll() is not None, 10):
            pytest.fail(f"nginx did not start listening:\n{self.log()}")
        if self.process.poll() is not None:
            pytest.fail(f"nginx exited ({self.process.returncode}):\n{self.log()}")
        return self

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: requests under way finish
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        kill_group(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def log(self):
        return self.log_path.read_text(errors="replace")


@dataclass
class Site:
    database: ReplicatedDatabase
    bouncer: PgBouncer
    servers: list
    balancer: Balancer
    polls: dict  # slug -> [choice ids], the polls made for the tests

    def counts(self, slug):
        """What the primary holds for a poll: {"rows": {choice: n}, "counts": {choice: n}}.

        Selection rows per answer, and each answer's stored count (folded plus its slots).
        """
        return bench.poll_counts(self.database.primary.url(user="postgres"), slug)

    def orm(self, code):
        """Run `code` with the site's models, on the primary, in a process of its own."""
        result = run_django(code, **self.database.site_env(replicas=False))
        assert result.returncode == 0, result.stderr
        return result.stdout

    def ensure_running(self):
        """Start again any app server a test has stopped."""
        stopped = [server for server in self.servers if not server.running]
        for server in stopped:
            server.start()
        for server in stopped:
            server.wait_ready()

    def logs(self):
        """The last lines of every server's log, for failure messages."""
        parts = []
        for name, text in [(s.name, s.log()) for s in self.servers] + [
            ("nginx", self.balancer.log()),
            ("pgbouncer", self.bouncer.log()),
        ]:
            parts.append(f"--- {name} ---\n" + "\n".join(text.splitlines()[-15:]))
        return "\n".join(parts)


def required_nginx():
    found = find_nginx()
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("REQUIRE_NGINX"):
            pytest.fail(f"{message}, and REQUIRE_NGINX is set", pytrace=False)
        pytest.skip(f"{message}; set REQUIRE_NGINX=1 to fail instead of skipping")
    return found


def required_redis():
    """The test run's own Redis (CACHE_URL), which the app servers share; emptied."""
    url = os.environ.get("CACHE_URL", "")
    parts = urllib.parse.urlsplit(url)
    reason = None
    if parts.scheme != "redis" or parts.hostname != HOST:
        reason = f"needs Redis on {HOST} as the test run's CACHE_URL (it is {url or 'unset'!r})"
    else:
        try:
            bench.empty_redis(url)
        except bench.BenchError as error:
            reason = str(error)
    if reason:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(f"{reason}, and REQUIRE_REDIS is set", pytrace=False)
        pytest.skip(f"{reason}; set REQUIRE_REDIS=1 to fail instead of skipping")
    return url


def empty(url):
    with contextlib.suppress(redis.RedisError, bench.BenchError):
        bench.empty_redis(url)


def server_environment(bouncer, cache_url, media_root):
    """Production settings over plain HTTP on 127.0.0.1, as the benchmarks run the site, with
    the database behind PgBouncer, its replica, and nginx as the one proxy in front."""
    env = bench.site_env(bouncer.url("psyweb"), cache_url)
    for name in list(env):
        if name in NOT_PASSED_ON or name.startswith(("GUNICORN_", "WEB_CONCURRENCY")):
            del env[name]
    env.update(
        SECRET_KEY="system-tests-only-not-a-secret",
        DATABASE_REPLICA_URLS=bouncer.url("psyweb_replica"),
        DATABASE_POOLER="pgbouncer",
        POLL_IP_VOTE_LIMIT=str(VOTE_LIMIT),
        TRUSTED_PROXY_COUNT="1",
        MEDIA_ROOT=str(media_root),
        WEB_CONCURRENCY=str(WORKERS),
    )
    return env


POLLS_CODE = """
import datetime, json
from django.core.management import call_command
from django.utils import timezone
from polls.models import Poll
call_command("load_demo", verbosity=0)
made = {}
for slug, answers in %r.items():
    poll = Poll.objects.create(question=f"System test: {slug}?", slug=slug,
                               opens_at=timezone.now() - datetime.timedelta(days=1))
    made[slug] = [poll.choices.create(text=text, order=n).pk for n, text in enumerate(answers, 1)]
print(json.dumps(made))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The two app servers behind nginx, on a replicated database behind PgBouncer, and Redis."""
    nginx = required_nginx()
    reason = missing_requirement() or (
        "needs Debian's pgbouncer (apt-get install pgbouncer)" if find_pgbouncer() is None else None
    )
    if reason:
        unavailable(reason)
    cache_url = required_redis()
    folder = tmp_path_factory.mktemp("system")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(empty, cache_url)
        database = ReplicatedDatabase()
        cleanup.callback(database.stop)
        database.start()
        bouncer = PgBouncer(
            {
                "psyweb": (database.primary.port, "psyweb"),
                "psyweb_replica": (database.replica.port, "psyweb"),
            }
        )
        cleanup.callback(bouncer.stop)
        bouncer.start()
        result = run_django(POLLS_CODE % POLLS, **database.site_env(replicas=False))
        assert result.returncode == 0, result.stderr
        polls = json.loads(result.stdout.splitlines()[-1])  # after load_demo's report
        database.wait_for_replay()

        env = server_environment(bouncer, cache_url, folder / "media")
        (folder / "media").mkdir()
        # As `make serve` does: the settings load, every migration is applied, collectstatic.
        folders = load_launcher().prepare(sys.executable, env)
        servers = [AppServer(name, env, folder) for name in ("gunicorn-a", "gunicorn-b")]
        for server in servers:
            cleanup.callback(server.stop)
            server.start()
        for server in servers:
            server.wait_ready()
        balancer = Balancer(nginx, folder, servers, folders)
        cleanup.callback(balancer.stop)
        balancer.start()
        yield Site(database, bouncer, servers, balancer, polls)


@pytest.fixture
def several_servers(site):
    """The site, with both app servers running (a test before may have stopped one)."""
    site.ensure_running()
    return site
