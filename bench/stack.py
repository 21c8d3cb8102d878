"""What the benchmarks share: a fresh site on PostgreSQL and Redis, gunicorn, `make serve`, HTTP.

Every request goes to 127.0.0.1 only; `local_url` refuses anything else.
"""

import contextlib
import http.cookiejar
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from html.parser import HTMLParser
from pathlib import Path

import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address the benchmarks ever send traffic to
PG_PORT = 5432
REDIS_URL = f"redis://{HOST}:6379/14"  # the benchmarks' own Redis database, emptied first
USER_AGENT = "psyweb-bench/2"
POLL_PATH = "/polls/antidepressants/"
ARTICLE_PATH = "/articles/rejection-while-depressed/"
VOTE_PATH = POLL_PATH + "vote/"
STATE_PATH = POLL_PATH + "state.json"


class BenchError(Exception):
    """The run could not be set up or finished; the message says why."""


class Deadline:
    def __init__(self, seconds):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self):
        return self.end - time.monotonic()

    def expired(self):
        return self.remaining() <= 0

    def check(self, what):
        if self.expired():
            raise BenchError(f"The overall deadline ({self.seconds:g} s) passed during {what}.")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(name, run, args, deadline):
    """Run `run(args, deadline)` -> exit status, with the benchmarks' error handling."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run(args, deadline)
    except BenchError as error:
        print(f"{name}: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; what it started has been stopped.", file=sys.stderr)
        return 130
    except (psycopg2.Error, redis.RedisError, OSError) as error:
        print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
    return 2


# --- The machine --------------------------------------------------------------------------


def _first(path, prefix):
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return "?"


def command_version(*command):
    """The version number a program prints, e.g. `nginx -v` -> 1.22.1; None if it is missing."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\d+\.\d+[\w.+~-]*", done.stdout + done.stderr)
    return found[0] if found else None


def machine_info(**extra):
    def version(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(_first("/proc/meminfo", "MemTotal").split()[0]) / 2**20, 1),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),  # anything else busy makes figures noisy
        **{p: version(p) for p in ("django", "gunicorn", "psycopg2-binary", "redis")},
        **extra,
    }


def describe_machine(m):
    return (
        f"machine: nproc {m['nproc']}, {m['memory_gib']} GiB RAM, {m['cpu_model']}; "
        f"Linux {m['kernel']}; Python {m['python']}, Django {m['django']}, "
        f"gunicorn {m['gunicorn']}, PostgreSQL {m.get('postgresql', '?')}, "
        f"Redis {m.get('redis_server', '?')}"
        + "".join(f", {k} {m[k]}" for k in ("nginx", "wrk") if m.get(k))
        + "; load average at start {:.1f} {:.1f} {:.1f}".format(*m["load_average_at_start"])
    )


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def local_url(url, what="--url"):
    """The URL if it names 127.0.0.1 (http, or postgres/redis); a BenchError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != HOST:
        raise BenchError(f"{what} must point at {HOST}, not {url!r}.")
    return url.rstrip("/") if parts.scheme.startswith("http") else url


def tool(name):
    path = ROOT / ".venv" / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{name} is not installed (looked in .venv/bin and on PATH).")
    return found


# --- PostgreSQL and Redis -----------------------------------------------------------------


def pg_connect(url):
    conn = psycopg2.connect(local_url(url, "the database URL"), connect_timeout=5)
    conn.autocommit = True
    return conn


class Database:
    """A database of its own on the local PostgreSQL, created empty and dropped afterwards."""

    def __init__(self, name):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name == "postgres":
            raise BenchError("The database name must be a lower-case identifier, not postgres.")
        self.name = name
        self.url = f"postgres://{HOST}:{PG_PORT}/{name}"

    def _admin(self, statement):
        conn = pg_connect(f"postgres://{HOST}:{PG_PORT}/postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL(statement).format(sql.Identifier(self.name)))
                cur.execute("SHOW server_version")
                return cur.fetchone()[0]
        finally:
            conn.close()

    def create(self):
        self.drop()
        return self._admin("CREATE DATABASE {}")

    def drop(self):
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def poll_counts(database_url, slug="antidepressants"):
    """Ballot rows and stored counts of a poll, in all and per choice id (as strings)."""
    conn = pg_connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM polls_poll WHERE slug = %s", [slug])
            row = cur.fetchone()
            if row is None:
                raise BenchError(f"The database holds no poll with the slug {slug!r}.")
            cur.execute(
                "SELECT s.choice_id, count(*) FROM polls_selection s"
                " JOIN polls_vote v ON v.id = s.vote_id WHERE v.poll_id = %s GROUP BY s.choice_id",
                [row[0]],
            )
            rows = {str(c): n for c, n in cur.fetchall()}
            # An answer's count: the votes folded into its row plus its counter slots'.
            cur.execute(
                "SELECT c.id, c.votes + COALESCE(SUM(s.votes), 0) FROM polls_choice c"
                " LEFT JOIN polls_choiceslot s ON s.choice_id = c.id WHERE c.poll_id = %s"
                " GROUP BY c.id",
                [row[0]],
            )
            counts = {str(c): n for c, n in cur.fetchall()}
    finally:
        conn.close()
    return {"rows": rows, "counts": counts}


def empty_redis(url):
    """Empty the benchmarks' Redis database (no cached page may leak in); the server version."""
    client = redis.Redis.from_url(local_url(url, "the Redis URL"), socket_timeout=5)
    try:
        client.flushdb()
        return client.info("server")["redis_version"]
    except redis.RedisError as error:
        raise BenchError(f"Redis does not answer at {url}: {error}") from error
    finally:
        client.close()


# --- The site -----------------------------------------------------------------------------


def site_env(database_url, cache_url, **extra):
    """Production settings over plain HTTP on 127.0.0.1, with a throwaway key."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="psyweb.settings",
        DATABASE_URL=database_url,
        CACHE_URL=cache_url,
        SECRET_KEY="bench-only",  # noqa: S106 - a throwaway key for a throwaway database
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",
        SESSION_COOKIE_SECURE="False",
        CSRF_COOKIE_SECURE="False",
        POLL_IP_VOTE_LIMIT="0",  # every visitor comes from 127.0.0.1
        **extra,
    )
    return env


def manage(args, env, deadline):
    deadline.check(f"manage.py {args[0]}")
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, our own manage.py
            [tool("python"), "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=max(1, deadline.remaining()),
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"manage.py {args[0]} did not finish before the deadline.") from error
    if done.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def fresh_site(db_name, redis_url, deadline, keep_db=False):
    """A new database with the demo content and collected static files: (env, machine info)."""
    database = Database(db_name)
    print(f"Setting up database {db_name} (PostgreSQL on {HOST}), cache {redis_url} ...")
    machine = machine_info(redis_server=empty_redis(redis_url), postgresql=database.create())
    try:
        env = site_env(database.url, redis_url)
        manage(["migrate", "--noinput"], env, deadline)
        manage(["load_demo"], env, deadline)
        manage(["collectstatic", "--noinput"], env, deadline)
        yield env, machine
    finally:
        if not keep_db:
            try:
                database.drop()
            except psycopg2.Error as error:
                print(f"could not drop {db_name}: {error}", file=sys.stderr)


class Process:
    """A server in a session of its own, logging to a temporary file."""

    name = "server"

    def __init__(self, env):
        self.env = env
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"bench-{self.name}-", suffix=".log", delete=False
        )
        self.process = None

    def spawn(self, command, env):
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path, deadline, seconds=60):
        """Wait until GET path answers 200; its headers."""
        wait_until = min(time.monotonic() + seconds, deadline.end)
        last = "no answer"
        while time.monotonic() < wait_until:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited ({self.process.returncode}) before answering:\n"
                    + self.tail()
                )
            try:
                status, headers, _ = get(self.base + path, timeout=2)
                if status == 200:
                    return headers
                last = f"status {status}"
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.25)
        raise BenchError(f"{self.name} did not answer {path} in time ({last}):\n{self.tail()}")

    def tail(self, lines=30):
        if not self.log.closed:
            self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close_log(self):
        if not self.log.closed:
            self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if kind is not None and kind is not KeyboardInterrupt and self.process is not None:
            print(f"--- {self.name} log (last lines) ---\n{self.tail()}", file=sys.stderr)
        self.stop()
        self.close_log()


class Gunicorn(Process):
    """gunicorn with N sync workers; `-c gunicorn.conf.py` when the project has one."""

    name = "gunicorn"

    def start(self, workers, deadline, app="psyweb.wsgi:application", ready=POLL_PATH, **env):
        config = ROOT / "gunicorn.conf.py"
        command = [tool("gunicorn"), *(["-c", str(config)] if config.exists() else [])]
        # On the command line, these win over the config file.
        command += [app, "--workers", str(workers), "--bind", f"{HOST}:{self.port}"]
        if not config.exists():
            command += ["--error-logfile", "-", "--graceful-timeout", "5"]  # and no access log
        self.workers = workers
        self.spawn(command, {**self.env, **env, "WEB_CONCURRENCY": str(workers)})
        self.wait_ready(ready, deadline)
        return self

    def stop(self):
        """End gunicorn and its workers: politely, then by force. Safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the master stops its workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # a stuck worker of the group we started
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def serve_is_available():
    """None if `make serve` is the nginx stack; otherwise why the benchmarks skip it."""
    done = subprocess.run(
        ["make", "-n", "serve"],  # noqa: S607 - the developer's make
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return f"`make -n serve` failed: {(done.stdout + done.stderr).strip()[-300:]}"
    if "runserver" in done.stdout:
        return "`make serve` is still Django's runserver, not nginx in front of gunicorn"
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "nginx is not installed (apt-get install nginx)"
    return None


class MakeServe(Process):
    """`make serve` (nginx in front of gunicorn) on a free port; stopped with SIGINT, as Ctrl-C."""

    name = "make serve"

    def start(self, workers, deadline):
        self.marker = uuid.uuid4().hex
        env = {
            **self.env,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "BENCH_PROCESS_MARKER": self.marker,  # finds what it started, should any be left
        }
        self.spawn(["make", "--no-print-directory", "serve"], env)
        headers = self.wait_ready(ARTICLE_PATH, deadline, seconds=90)
        self.server_header = headers.get("Server", "")
        return self

    def processes(self):
        """Processes still running that this `make serve` started: [(pid, command)]."""
        if self.process is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                session = int(stat.rsplit(")", 1)[1].split()[3])
                marked = False
                with contextlib.suppress(OSError):
                    marked = self.marker.encode() in (entry / "environ").read_bytes()
                if session == self.process.pid or marked:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                    found.append((int(entry.name), command.decode(errors="replace")[:120]))
        return found

    def stop(self):
        """SIGINT to its process group (as Ctrl-C does), then check nothing is left.

        Returns what was left behind (and then killed): [(pid, command)], and notes a port
        still listening.
        """
        process = self.process
        if process is None:
            return []
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        end = time.monotonic() + 30  # its servers may stop after make itself has exited
        while (left := self.processes()) and time.monotonic() < end:
            time.sleep(0.2)
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            left.append((process.pid, "make serve (did not exit on SIGINT)"))
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        if port_open(self.port):
            left.append((0, f"something still listens on {HOST}:{self.port}"))
        if (ROOT / ".cache" / "serve" / str(self.port)).exists():
            left.append((0, f".cache/serve/{self.port}/ (its run folder) is still there"))
        self.process = None
        return left


# --- HTTP ---------------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as it is: a 303 is how the site says "your vote was counted"."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def opener(jar=None):
    handlers = [NoRedirect]
    if jar is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(jar))
    return urllib.request.build_opener(*handlers)


_PLAIN = opener()


def get(url, *, data=None, headers=None, timeout=30, using=None):
    """(status, headers, body) of one request to 127.0.0.1; a 4xx or 5xx answer is returned."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"refusing to send a request to {url}")
    req = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1:<port>
        url, data=data, headers={"User-Agent": USER_AGENT, **(headers or {})}
    )
    try:
        with (using or _PLAIN).open(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as answer:  # includes the 303 that NoRedirect leaves alone
        with answer:
            return answer.code, answer.headers, answer.read()


class FormParser(HTMLParser):
    """The hidden inputs and `choice` radio values of the form that posts to VOTE_PATH."""

    form = found = None

    def handle_starttag(self, tag, attrs):
        a = {name: value or "" for name, value in attrs}
        if tag == "form" and urllib.parse.urlsplit(a.get("action", "")).path == VOTE_PATH:
            self.form = {"hidden": {}, "choices": []}
        elif tag == "input" and self.form is not None and a.get("type") == "hidden":
            self.form["hidden"][a.get("name", "")] = a.get("value", "")
        elif tag == "input" and self.form is not None and a.get("name") == "choice":
            self.form["choices"].append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form" and self.form is not None:
            self.found = self.found or (self.form if self.form["choices"] else None)
            self.form = None


class Visitor:
    """One reader with a cookie jar of their own, voting as a browser does."""

    def __init__(self, base, timeout):
        self.base, self.timeout = base, timeout
        self.opener = opener(http.cookiejar.CookieJar())

    def get(self, path):
        return get(self.base + path, timeout=self.timeout, using=self.opener)[::2]

    def form(self):
        """Load the poll page: the vote form's (hidden fields, choices)."""
        status, body = self.get(POLL_PATH)
        parser = FormParser(convert_charrefs=True)
        parser.feed(body.decode("utf-8", "replace"))
        if status != 200 or parser.found is None:
            raise ValueError(f"GET {POLL_PATH}: {status}, no vote form with choices")
        return parser.found["hidden"], parser.found["choices"]

    def state(self):
        """What the JS island asks first; it gives a new visitor their cookie."""
        if self.get(STATE_PATH)[0] != 200:
            raise ValueError(f"GET {STATE_PATH} did not answer 200")

    def vote(self, hidden, choice, how):
        """POST the vote, same-origin and form-encoded: (status, headers)."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": self.base,
            "Sec-Fetch-Site": "same-origin",
            **({"Accept": "application/json"} if how == "json" else {}),
        }
        data = urllib.parse.urlencode({"next": POLL_PATH, **hidden, "choice": choice}).encode()
        url = self.base + VOTE_PATH
        return get(url, data=data, headers=headers, timeout=self.timeout, using=self.opener)[:2]


# --- Options and reports ------------------------------------------------------------------


def add_common_options(parser, timeout):
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4)")
    parser.add_argument("--timeout", type=float, default=timeout, help=f"deadline, s ({timeout})")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--db-name", default="psyweb_bench", help="database to create and drop")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"cache, emptied ({REDIS_URL})")


def check(name, passed, detail):
    return {"name": name, "passed": bool(passed), "detail": str(detail)}


def latency(seconds):
    """p50/p95/max of a list of durations, in milliseconds."""
    s = sorted(seconds)
    return (
        "/".join(f"{1000 * s[round(q * (len(s) - 1))]:.0f}" for q in (0.5, 0.95, 1)) if s else "-"
    )


def finish(report, json_path):
    """Print the checks and the verdict, write the JSON; True when every check passed."""
    for c in report["checks"]:
        print(f"  [{'ok' if c['passed'] else 'FAIL'}] {c['name']}: {c['detail']}")
    report["passed"] = all(c["passed"] for c in report["checks"])
    print(f"result: {'PASS' if report['passed'] else 'FAIL'}")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"JSON report: {json_path}")
    return report["passed"]
