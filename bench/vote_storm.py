"""Vote storm: are votes lost when many readers vote at once?

Starts the site under gunicorn against a fresh PostgreSQL database, lets N distinct visitors
vote through the real form at the same time, then compares the votes the server accepted
(302 answers) with what it counted: results.json, the polls_vote rows and the sum of the
polls_choice counts. Then one fresh visitor double-clicks: K simultaneous POSTs with the same
cookies and form token, of which exactly one must be counted.

Traffic goes to 127.0.0.1 only, and the run is bounded in count (--visitors, --double-click)
and in time (--timeout). Exit status: 0 when every check passed, 1 when a vote was lost or a
count disagrees, 2 when the run could not be set up or was cut short.

    .venv/bin/python bench/vote_storm.py [--visitors 400] [--concurrency 32] [--workers 4]

See bench/README.md.
"""

import argparse
import concurrent.futures
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
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address this script ever sends traffic to
PG_PORT = 5432
REDIS_PORT = 6379
REDIS_DB = 14
POLL_SLUG = "antidepressants"
POLL_PATH = f"/polls/{POLL_SLUG}/"
VOTE_PATH = f"/polls/{POLL_SLUG}/vote/"
RESULTS_PATH = f"/polls/{POLL_SLUG}/results.json"
USER_AGENT = "psyweb-vote-storm/1"


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


# --- The machine --------------------------------------------------------------------------


def machine_info():
    cpu_model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    return {
        "nproc": nproc,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": _version("django"),
        "gunicorn": _version("gunicorn"),
    }


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def redis_answers():
    """True if Redis answers PING on 127.0.0.1; if so, empty the bench's own database in it."""
    try:
        with socket.create_connection((HOST, REDIS_PORT), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            if not conn.recv(64).startswith(b"+PONG"):
                return False
            # Cached pages or counters from an earlier run must not leak into this one.
            conn.sendall(f"SELECT {REDIS_DB}\r\nFLUSHDB\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = conn.recv(64)
                if not chunk:
                    break
                reply += chunk
            return reply == b"+OK\r\n+OK\r\n"
    except OSError:
        return False


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --- The database -------------------------------------------------------------------------


def pg_url(dbname):
    return f"postgres://{HOST}:{PG_PORT}/{dbname}"


def pg_connect(dbname):
    conn = psycopg2.connect(host=HOST, port=PG_PORT, dbname=dbname, connect_timeout=5)
    conn.autocommit = True
    return conn


def drop_database(name):
    conn = pg_connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def create_database(name):
    drop_database(name)
    conn = pg_connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]
    finally:
        conn.close()


def db_counts(name):
    """What PostgreSQL holds for the demo poll: ballot rows and counts, in all and per choice."""
    conn = pg_connect(name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM polls_poll WHERE slug = %s", [POLL_SLUG])
            row = cur.fetchone()
            if row is None:
                raise BenchError(f"The database holds no poll with the slug {POLL_SLUG!r}.")
            poll_id = row[0]
            cur.execute(
                "SELECT choice_id, count(*) FROM polls_vote WHERE poll_id = %s GROUP BY choice_id",
                [poll_id],
            )
            rows = {str(choice): n for choice, n in cur.fetchall()}
            cur.execute("SELECT id, votes FROM polls_choice WHERE poll_id = %s", [poll_id])
            counts = {str(choice): votes for choice, votes in cur.fetchall()}
    finally:
        conn.close()
    return {
        "vote_rows": sum(rows.values()),
        "count_sum": sum(counts.values()),
        "rows_by_choice": rows,
        "counts_by_choice": counts,
    }


# --- The server ---------------------------------------------------------------------------


def tool(name):
    path = ROOT / ".venv" / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{name} is not installed (looked in .venv/bin and on PATH).")
    return found


def site_env(dbname, cache_url):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="psyweb.settings",
        DATABASE_URL=pg_url(dbname),
        SECRET_KEY="bench-only",  # noqa: S106 - a throwaway key for a throwaway database
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",
        SESSION_COOKIE_SECURE="False",
        CSRF_COOKIE_SECURE="False",
        POLL_IP_VOTE_LIMIT="0",  # every visitor comes from 127.0.0.1
        # Empty means the settings' default (a file cache), and a .env cannot override it.
        CACHE_URL=cache_url or "",
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
        raise BenchError(
            f"manage.py {' '.join(args)} did not finish before the deadline."
        ) from error
    if done.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )


class Server:
    """gunicorn in its own process group, so that it and its workers can all be ended."""

    def __init__(self, workers, env):
        self.workers = workers
        self.env = env
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="vote-storm-gunicorn-", suffix=".log", delete=False
        )
        self.process = None

    def start(self, deadline):
        command = [
            tool("gunicorn"),
            "psyweb.wsgi:application",
            "--workers",
            str(self.workers),
            "--bind",
            f"{HOST}:{self.port}",
            # No --access-logfile: gunicorn then writes no access log, so no address is logged.
            "--error-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        opener = urllib.request.build_opener(NoRedirect)
        wait_until = min(time.monotonic() + 60, deadline.end)
        while time.monotonic() < wait_until:
            if self.process.poll() is not None:
                raise BenchError(
                    f"gunicorn exited ({self.process.returncode}) before answering:\n{self.tail()}"
                )
            try:
                with opener.open(self.base + POLL_PATH, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise BenchError(f"gunicorn did not answer {POLL_PATH} with 200 in time:\n{self.tail()}")

    def stop(self):
        """End gunicorn and its workers: politely, then by force. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)  # the master stops its workers
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if process is not None:
            # Whatever is left of the group we started (a stuck worker) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if not self.log.closed:
            self.log.close()

    def tail(self, lines=40):
        if not self.log.closed:
            self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def remove_log(self):
        Path(self.log.name).unlink(missing_ok=True)


# --- The visitors -------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as it is: a 302 is how the site says "your vote was counted"."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class VoteFormParser(HTMLParser):
    """The hidden inputs and the `choice` radio values of each form on a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = {"action": attrs.get("action", ""), "hidden": {}, "choices": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            kind = attrs.get("type", "text").lower()
            if kind == "hidden" and attrs.get("name"):
                self._form["hidden"][attrs["name"]] = attrs.get("value", "")
            elif kind == "radio" and attrs.get("name") == "choice":
                self._form["choices"].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def vote_form(html, page_url):
    """(hidden fields, choice values) of the page's form that posts to the poll's vote URL."""
    parser = VoteFormParser()
    parser.feed(html)
    for form in parser.forms:
        action = urllib.parse.urlsplit(urllib.parse.urljoin(page_url, form["action"])).path
        if action == VOTE_PATH and form["choices"]:
            if "csrfmiddlewaretoken" not in form["hidden"]:
                raise ValueError("the vote form has no csrfmiddlewaretoken")
            return form["hidden"], form["choices"]
    raise ValueError(f"no form posting to {VOTE_PATH} with choices on the page")


class Outcome:
    """What happened to one visitor."""

    def __init__(self, index):
        self.index = index
        self.status = None  # the POST's HTTP status, when there was one
        self.error = None  # the kind of failure, when there was no usable answer
        self.choice = None
        self.posted = False  # the vote POST was sent (its answer may still be missing)
        self.get_seconds = None
        self.post_seconds = None


def request(base, path, *, data=None, headers=None):
    req = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1:<port>
        base + path, data=data, headers={"User-Agent": USER_AGENT, **(headers or {})}
    )
    if not req.full_url.startswith(f"http://{HOST}:"):
        raise ValueError(f"refusing to send a request to {req.full_url}")
    return req


def fetch(opener, req, timeout):
    """(status, headers, body) of one request; a 4xx or 5xx answer is returned, not raised."""
    try:
        with opener.open(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as answer:  # includes the 302 that NoRedirect leaves alone
        with answer:
            return answer.code, answer.headers, answer.read()


def form_headers(base):
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "Referer": base + POLL_PATH,
        "Origin": base,  # as a browser sends it with a form POST
    }


def visitor(index, base, request_timeout, deadline, stop):
    """One reader with a cookie jar of their own: load the poll page, pick an answer, vote."""
    outcome = Outcome(index)
    if stop.is_set() or deadline.expired():
        outcome.error = "deadline"
        return outcome
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    try:
        started = time.perf_counter()
        status, _, body = fetch(
            opener, request(base, POLL_PATH), min(request_timeout, deadline.remaining())
        )
        outcome.get_seconds = time.perf_counter() - started
        if status != 200:
            outcome.error = f"GET {status}"
            return outcome
        hidden, choices = vote_form(body.decode("utf-8", "replace"), base + POLL_PATH)
        outcome.choice = choices[index % len(choices)]  # round-robin over the answers
        if stop.is_set() or deadline.expired():
            outcome.error = "deadline"
            return outcome
        data = urllib.parse.urlencode({**hidden, "choice": outcome.choice}).encode()
        started = time.perf_counter()
        outcome.posted = True
        status, _, _ = fetch(
            opener,
            request(base, VOTE_PATH, data=data, headers=form_headers(base)),
            min(request_timeout, deadline.remaining()),
        )
        outcome.post_seconds = time.perf_counter() - started
        outcome.status = status
    except ValueError as error:
        outcome.error = f"bad page: {error}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        outcome.error = type(reason).__name__
    except Exception as error:  # e.g. http.client.IncompleteRead: count it, do not stop
        outcome.error = type(error).__name__
    return outcome


def storm(base, visitors, concurrency, request_timeout, deadline):
    stop = threading.Event()
    futures = []
    started = time.perf_counter()
    pool = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="visitor")
    try:
        futures = [
            pool.submit(visitor, i, base, request_timeout, deadline, stop) for i in range(visitors)
        ]
        concurrent.futures.wait(futures, timeout=max(0, deadline.remaining()) + 1)
    finally:
        # Visitors not started by the deadline are cancelled; those under way finish within
        # their request timeout, and start no new request.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - started
    outcomes = []
    for index, future in enumerate(futures):
        if future.cancelled():
            outcome = Outcome(index)
            outcome.error = "deadline"
        else:
            outcome = future.result()
        outcomes.append(outcome)
    return outcomes, elapsed


def double_click(base, clicks, request_timeout, deadline):
    """One fresh visitor loads the form, then sends `clicks` identical POSTs at the same time."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    status, _, body = fetch(opener, request(base, POLL_PATH), request_timeout)
    if status != 200:
        raise BenchError(f"double-click: GET {POLL_PATH} answered {status}")
    hidden, choices = vote_form(body.decode("utf-8", "replace"), base + POLL_PATH)
    data = urllib.parse.urlencode({**hidden, "choice": choices[0]}).encode()
    # The very same Cookie header and token on every click, as one browser tab would send.
    probe = request(base, VOTE_PATH)
    jar.add_cookie_header(probe)
    headers = {**form_headers(base), "Cookie": probe.get_header("Cookie", "")}

    barrier = threading.Barrier(clicks)
    plain = urllib.request.build_opener(NoRedirect)  # no cookie jar: nothing learnt in between

    def click(_):
        req = request(base, VOTE_PATH, data=data, headers=headers)
        try:
            barrier.wait(timeout=30)
            status, answer_headers, _ = fetch(
                plain, req, min(request_timeout, max(1, deadline.remaining()))
            )
        except threading.BrokenBarrierError:
            return "barrier", None
        except (urllib.error.URLError, OSError) as error:
            return type(getattr(error, "reason", error)).__name__, None
        except Exception as error:
            return type(error).__name__, None
        cookies = answer_headers.get_all("Set-Cookie") or []
        voter = next((c.split(";")[0] for c in cookies if c.startswith("psyweb_voter=")), None)
        return status, voter

    with concurrent.futures.ThreadPoolExecutor(clicks, thread_name_prefix="click") as pool:
        answers = list(pool.map(click, range(clicks)))
    statuses = Counter(str(status) for status, _ in answers)
    voter_cookies = {voter for status, voter in answers if status == 302 and voter}
    return {
        "clicks": clicks,
        "accepted": statuses.get("302", 0),
        "answers": dict(sorted(statuses.items())),
        "distinct_voter_cookies_issued": len(voter_cookies),
    }


def results_json(base, request_timeout):
    opener = urllib.request.build_opener(NoRedirect)
    status, _, body = fetch(opener, request(base, RESULTS_PATH), request_timeout)
    if status != 200:
        raise BenchError(f"GET {RESULTS_PATH} answered {status}")
    return json.loads(body)


# --- The report ---------------------------------------------------------------------------


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency(values):
    return {
        "p50_ms": _ms(percentile(values, 0.50)),
        "p95_ms": _ms(percentile(values, 0.95)),
        "max_ms": _ms(max(values) if values else None),
    }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def summarise_storm(outcomes, elapsed):
    accepted = [o for o in outcomes if o.status == 302]
    rejected = Counter(str(o.status) for o in outcomes if o.status not in (None, 302))
    errors = Counter(o.error for o in outcomes if o.error)
    completed = len(accepted) + sum(rejected.values())
    return {
        "completed": completed,
        # Sent, but no answer came: the server may or may not have counted these.
        "unanswered_posts": sum(1 for o in outcomes if o.posted and o.status is None),
        "accepted": len(accepted),
        "accepted_by_choice": dict(sorted(Counter(o.choice for o in accepted).items())),
        "rejected": dict(sorted(rejected.items())),
        "errors": dict(sorted(errors.items())),
        "elapsed_s": round(elapsed, 2),
        "visitors_per_s": round(completed / elapsed, 1) if elapsed else None,
        "get_latency": latency([o.get_seconds for o in outcomes if o.get_seconds is not None]),
        "post_latency": latency([o.post_seconds for o in outcomes if o.post_seconds is not None]),
    }


def compare(summary, results, db):
    """The checks on the storm's counts: [(name, passed, detail)]."""
    accepted = summary["accepted"]
    json_total = results["total_votes"]
    checks = [
        (
            "accepted == results.json total_votes",
            accepted == json_total,
            f"{accepted} vs {json_total}",
        ),
        (
            "accepted == polls_vote rows",
            accepted == db["vote_rows"],
            f"{accepted} vs {db['vote_rows']}",
        ),
        (
            "accepted == sum of polls_choice.votes",
            accepted == db["count_sum"],
            f"{accepted} vs {db['count_sum']}",
        ),
    ]
    by_choice = summary["accepted_by_choice"]
    json_by_choice = {
        str(c["id"]): c["votes"] for c in results["choices"] if c.get("votes") is not None
    }
    for choice in sorted(db["counts_by_choice"], key=int):
        want = by_choice.get(choice, 0)
        rows = db["rows_by_choice"].get(choice, 0)
        count = db["counts_by_choice"][choice]
        shown = json_by_choice.get(choice, count)
        checks.append(
            (
                f"choice {choice}: accepted == rows == count == shown",
                want == rows == count == shown,
                f"{want} / {rows} / {count} / {shown}",
            )
        )
    return checks


def fmt_counter(counter):
    return ", ".join(f"{key}: {n}" for key, n in counter.items()) or "none"


def print_report(report):
    m = report["machine"]
    s = report["storm"]
    print("== PsyWeb vote storm ==")
    print(
        f"machine: nproc {m['nproc']}, {m['memory_gib']} GiB RAM, {m['cpu_model']}; "
        f"Linux {m['kernel']}; Python {m['python']}, Django {m['django']}, "
        f"gunicorn {m['gunicorn']}, PostgreSQL {report['postgresql']}"
    )
    print(
        f"server: gunicorn, {report['workers']} sync workers on {HOST}; "
        f"database {report['database']}; cache {report['cache']}"
    )
    print(f"visitors: {report['visitors']}, concurrency {report['concurrency']}")
    print(f"accepted (302): {s['accepted']}  by choice: {fmt_counter(s['accepted_by_choice'])}")
    print(f"rejected: {fmt_counter(s['rejected'])}")
    print(f"errors: {fmt_counter(s['errors'])}")
    if s["unanswered_posts"]:
        print(f"POSTs sent without an answer (may have been counted): {s['unanswered_posts']}")
    c = report["counted"]
    print(
        f"counted: results.json total_votes {c['results_json_total']}, "
        f"polls_vote rows {c['vote_rows']}, sum of polls_choice.votes {c['count_sum']}"
    )
    lost = report["lost"]
    note = " (more counted than accepted)" if lost < 0 else ""
    print(f"lost (accepted - counted): {lost}{note}")
    print(
        f"elapsed: {s['elapsed_s']} s for {s['completed']} answered votes, "
        f"{s['visitors_per_s']} visitors/s; "
        f"GET p50/p95/max {_lat(s['get_latency'])} ms; "
        f"POST p50/p95/max {_lat(s['post_latency'])} ms"
    )
    for name, passed, detail in report["checks"]:
        print(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")
    d = report.get("double_click")
    if d:
        print(
            f"double-click: {d['clicks']} simultaneous POSTs, same cookies and token: "
            f"accepted {d['accepted']} (answers {fmt_counter(d['answers'])}); "
            f"total {d['total_before']} -> {d['total_after']} (+{d['rise']}), "
            f"rows +{d['rows_rise']}; voter cookies issued: {d['distinct_voter_cookies_issued']}"
        )
        for name, passed, detail in d["checks"]:
            print(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")
    print(f"result: {'PASS' if report['passed'] else 'FAIL'}")


def _lat(values):
    return "/".join("-" if v is None else f"{v:g}" for v in values.values())


# --- The run ------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=400, help="distinct voters (400)")
    parser.add_argument("--concurrency", type=int, default=32, help="voters at once (32)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument(
        "--timeout", type=float, default=300, help="overall deadline in seconds (300)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=30, help="per-request timeout in seconds (30)"
    )
    parser.add_argument(
        "--double-click", type=int, default=20, metavar="K", help="simultaneous clicks (20; 0 off)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--db-name", default="psyweb_bench", help="database (psyweb_bench)")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.db_name) or args.db_name == "postgres":
        parser.error("--db-name must be a lower-case identifier other than postgres")
    for name in ("visitors", "concurrency", "workers"):
        if not 1 <= getattr(args, name) <= 10_000:
            parser.error(f"--{name} must be between 1 and 10000")
    if not 0 <= args.double_click <= 200:
        parser.error("--double-click must be between 0 and 200")
    if args.timeout <= 0 or args.request_timeout <= 0:
        parser.error("--timeout and --request-timeout must be positive")
    return args


def run(args, deadline):
    machine = machine_info()
    cache_url = f"redis://{HOST}:{REDIS_PORT}/{REDIS_DB}" if redis_answers() else None
    print(f"Setting up database {args.db_name} and gunicorn ...", flush=True)
    pg_version = create_database(args.db_name)
    env = site_env(args.db_name, cache_url)
    manage(["migrate", "--noinput"], env, deadline)
    manage(["load_demo"], env, deadline)
    manage(["collectstatic", "--noinput"], env, deadline)

    server = Server(args.workers, env)
    try:
        server.start(deadline)
        print(
            f"Storm: {args.visitors} visitors, concurrency {args.concurrency}, "
            f"{args.workers} workers ...",
            flush=True,
        )
        outcomes, elapsed = storm(
            server.base, args.visitors, args.concurrency, args.request_timeout, deadline
        )
        summary = summarise_storm(outcomes, elapsed)
        results = results_json(server.base, args.request_timeout)
        db = db_counts(args.db_name)
        checks = compare(summary, results, db)
        report = {
            "machine": machine,
            "postgresql": pg_version,
            "workers": args.workers,
            "visitors": args.visitors,
            "concurrency": args.concurrency,
            "database": args.db_name,
            "cache": cache_url or "file cache (Redis did not answer)",
            "storm": summary,
            "counted": {
                "results_json_total": results["total_votes"],
                "vote_rows": db["vote_rows"],
                "count_sum": db["count_sum"],
                "counts_by_choice": db["counts_by_choice"],
                "rows_by_choice": db["rows_by_choice"],
            },
            "lost": summary["accepted"] - db["count_sum"],
            "checks": checks,
        }
        cut_short = summary["errors"].get("deadline", 0)
        if args.double_click and not deadline.expired():
            before = results["total_votes"]
            clicked = double_click(server.base, args.double_click, args.request_timeout, deadline)
            after = results_json(server.base, args.request_timeout)["total_votes"]
            rows_after = db_counts(args.db_name)["vote_rows"]
            clicked.update(
                total_before=before,
                total_after=after,
                rise=after - before,
                rows_rise=rows_after - db["vote_rows"],
            )
            clicked["checks"] = [
                ("exactly one click accepted", clicked["accepted"] == 1, str(clicked["accepted"])),
                ("total rose by exactly 1", clicked["rise"] == 1, f"+{clicked['rise']}"),
                (
                    "ballot rows rose by exactly 1",
                    clicked["rows_rise"] == 1,
                    f"+{clicked['rows_rise']}",
                ),
            ]
            report["double_click"] = clicked
        elif args.double_click:
            cut_short += 1
        all_checks = checks + report.get("double_click", {}).get("checks", [])
        report["passed"] = all(passed for _, passed, _ in all_checks) and not cut_short
        report["cut_short_by_deadline"] = bool(cut_short)
    except KeyboardInterrupt:
        raise
    except BaseException:
        server.stop()
        print("--- gunicorn log (last lines) ---", file=sys.stderr)
        print(server.tail(), file=sys.stderr)
        raise
    finally:
        server.stop()
        server.remove_log()
    return report


def main(argv=None):
    args = parse_args(argv)
    deadline = Deadline(args.timeout)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C stops the run cleanly even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    report = None
    status = 2
    try:
        report = run(args, deadline)
        status = 0 if report["passed"] else (2 if report["cut_short_by_deadline"] else 1)
    except BenchError as error:
        print(f"vote_storm: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("vote_storm: interrupted; the server has been stopped.", file=sys.stderr)
        status = 130
    except (psycopg2.Error, OSError) as error:
        print(f"vote_storm: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        if not args.keep_db:
            try:
                drop_database(args.db_name)
            except psycopg2.Error as error:
                print(f"vote_storm: could not drop {args.db_name}: {error}", file=sys.stderr)
    if report is not None:
        print_report(report)
        if report["cut_short_by_deadline"]:
            print(f"The overall deadline ({args.timeout:g} s) cut the run short.")
        if args.json:
            path = Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            report["checks"] = [
                {"name": n, "passed": p, "detail": d} for n, p, d in report["checks"]
            ]
            if "double_click" in report:
                report["double_click"]["checks"] = [
                    {"name": n, "passed": p, "detail": d}
                    for n, p, d in report["double_click"]["checks"]
                ]
            path.write_text(json.dumps(report, indent=2) + "\n")
            print(f"JSON report: {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
