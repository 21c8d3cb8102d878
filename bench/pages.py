"""Page rates and coherence: how fast readers' pages are served, and how fresh they are.

With wrk, as new visitors without cookies, on a fresh PostgreSQL database with Redis as the
cache and production settings, 4 gunicorn workers:

- the Django ceiling: a view without middleware returning the article page's bytes;
- gunicorn alone: the article page and the home page (ratio to the ceiling, target >= 0.5);
- `make serve`: the article page through nginx, and the same bytes as a static file from the
  same nginx (ratio, target >= 0.5);
- coherence: an edit written by another process (the article's title, by SQL) and a vote
  show on every response within 2 s, through gunicorn alone and through `make serve`.

Traffic goes to 127.0.0.1 only. Exit status: 0 every check passed, 1 a check failed (a non-2xx
answer, a page not shared, an edit or vote shown late, a process left behind), 2 the run
could not be set up.

    .venv/bin/python bench/pages.py [--threads 2] [--connections 32] [--duration 10]

See bench/README.md.
"""

import argparse
import concurrent.futures
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import stack
from stack import ARTICLE_PATH, POLL_PATH, ROOT, BenchError, check

ARTICLE_SLUG = ARTICLE_PATH.strip("/").split("/")[-1]
STATIC_FILE = ROOT / "staticfiles" / "bench" / "article.html"  # nginx serves it as below
STATIC_PATH = "/static/bench/article.html"
CEILING = "Django ceiling: no middleware, same bytes"
LUA = Path(__file__).with_name("status.lua")
TOTAL_VOTES = re.compile(r"Total votes:\s*([\d,]+)")


def wrk(url, args, duration, count_every_status=False):
    """One wrk run: requests/s, failed answers, mean latency (a BenchError if wrk fails).

    wrk's own count ("Non-2xx or 3xx responses") is of answers >= 400; with
    count_every_status, bench/status.lua counts every answer that is not 2xx, at some cost in
    speed, so the measured runs go without it and the warm-up runs with it.
    """
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s"]
    command += ["--timeout", "10s", *(["-s", str(LUA)] if count_every_status else []), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)  # noqa: S603
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", out)
    if done.returncode != 0 or rate is None or latency is None:
        raise BenchError(f"wrk failed on {url}:\n{out}{done.stderr}")
    bad = re.search(r"non-2xx: (\d+)", out) or re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "req_s": float(rate[1]),
        "requests": int(re.search(r"(\d+) requests in", out)[1]),
        "non_2xx": int(bad[1]) if bad else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "latency_avg_ms": round(
            float(latency[1]) * {"us": 0.001, "ms": 1, "s": 1000}[latency[2]], 2
        ),
    }


def measure(targets, args, deadline, report):
    """Rate each (what, base, path), `--rounds` times in turn, so that a change in the
    machine's load touches each alike; each run after a warm-up that counts every non-2xx.
    The median run of each is reported; every answer of every run must be a 2xx."""
    runs = {what: [] for what, _, _ in targets}
    for n in range(args.rounds):
        for what, base, path in targets:
            deadline.check(f"the rates ({what})")
            print(f"wrk: {what} ({base}{path}), round {n + 1} of {args.rounds} ...", flush=True)
            first = stack.get(base + path)[0]
            warm = wrk(base + path, args, args.warmup, count_every_status=True)
            run = wrk(base + path, args, args.duration)
            run["non_2xx"] += warm["non_2xx"] + (first != 200)
            run["socket_errors"] += warm["socket_errors"]
            runs[what].append(run)
    results = {}
    for what, base, path in targets:
        r = results[what] = {"what": what, "url": base + path, "runs": runs[what]}
        r["req_s"] = statistics.median(run["req_s"] for run in r["runs"])
        r["latency_avg_ms"] = statistics.median(run["latency_avg_ms"] for run in r["runs"])
        for key in ("non_2xx", "socket_errors"):
            r[key] = sum(run[key] for run in r["runs"])
        report["rates"].append(r)
        report["checks"] += [
            check(f"{what}: every answer 2xx", not r["non_2xx"], r["non_2xx"]),
            check(f"{what}: no socket errors", not r["socket_errors"], r["socket_errors"]),
        ]
    return results


def compare(result, reference):
    """The median of the rounds' ratios of requests per second."""
    ratios = [
        a["req_s"] / b["req_s"] for a, b in zip(result["runs"], reference["runs"], strict=True)
    ]
    result.update(ratio=round(statistics.median(ratios), 2), ratio_to=reference["what"])
    result["ratios"] = [round(ratio, 2) for ratio in ratios]


def shared_page_checks(base, report):
    """The readers' pages are the same bytes for everyone: 200, no cookie, no CSRF token."""
    for path in ("/", ARTICLE_PATH, POLL_PATH):
        (s1, h1, b1), (s2, _, b2) = stack.get(base + path), stack.get(base + path)
        report["checks"] += [
            check(f"{path}: 200, twice the same bytes", s1 == s2 == 200 and b1 == b2, f"{s1} {s2}"),
            check(f"{path}: no Set-Cookie", not h1.get_all("Set-Cookie"), h1.get_all("Set-Cookie")),
            check(f"{path}: no CSRF token", b"csrfmiddlewaretoken" not in b1, ""),
        ]


def settle(base, probes, started, args):
    """Seconds from `started` until every probe held on every response for 1 s; None if never.

    Each 50 ms, every (path, holds(body)) probe is fetched 4 times at once (several workers).
    """
    fetches = [(path, holds) for path, holds in probes for _ in range(4)]
    streak = None
    with concurrent.futures.ThreadPoolExecutor(len(fetches)) as pool:
        while time.monotonic() - started < args.give_up:
            answers = list(pool.map(lambda f: stack.get(base + f[0], timeout=5), fetches))
            now = time.monotonic()
            if all(
                status == 200 and holds(body)
                for (_, holds), (status, _, body) in zip(fetches, answers, strict=True)
            ):
                streak = streak or now  # the first of an unbroken run of ticks that held
                if now - streak >= 1.0:
                    return round(streak - started, 3)
            else:
                streak = None
            time.sleep(max(0, 0.05 - (time.monotonic() - now)))
    return None


def coherence(where, base, database_url, args, report):
    """An edit by another process, and a vote, shown on every response within 2 s."""
    conn = stack.pg_connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT title FROM articles_article WHERE slug = %s", [ARTICLE_SLUG])
            title = cur.fetchone()[0]
            paths = [ARTICLE_PATH] + (["/"] if title.encode() in stack.get(base + "/")[2] else [])
            marker = f"bench edit {uuid.uuid4().hex[:8]}"
            for what, new_title, holds in (
                ("title edit", f"{title} ({marker})", lambda body: marker.encode() in body),
                ("title restored", title, lambda body: marker.encode() not in body),
            ):
                cur.execute(
                    "UPDATE articles_article SET title = %s WHERE slug = %s",
                    [new_title, ARTICLE_SLUG],
                )
                delay = settle(base, [(p, holds) for p in paths], time.monotonic(), args)
                record(report, where, f"{what} on {' and '.join(paths)}", delay, args)
    finally:
        conn.close()
    total = sum(stack.poll_counts(database_url)["counts"].values()) + 1
    visitor = stack.Visitor(base, timeout=30)  # a new reader, voting as the JS island does
    hidden, choices = visitor.form()
    visitor.state()
    status = visitor.vote(hidden, choices[0], "json")[0]
    started = time.monotonic()
    probes = [(POLL_PATH + "results.json", lambda body: json.loads(body)["total_votes"] == total)]
    if TOTAL_VOTES.search(stack.get(base + POLL_PATH)[2].decode()):
        probes.append((POLL_PATH, lambda body: shows_total(body) == total))
    delay = settle(base, probes, started, args) if status == 200 else None
    where_shown = " and ".join(path for path, _ in probes)
    record(report, where, f"vote (answered {status}) in {where_shown}", delay, args)


def shows_total(body):
    """The "Total votes: N" a page shows, or None."""
    found = TOTAL_VOTES.search(body.decode("utf-8", "replace"))
    return int(found[1].replace(",", "")) if found else None


def record(report, where, what, delay, args):
    report["coherence"].append({"where": where, "what": what, "delay_s": delay})
    shown = f"{delay:.2f} s" if delay is not None else f"not within {args.give_up:g} s"
    print(f"coherence, {where}: {what}: {shown}")
    report["checks"].append(
        check(f"{where}: {what} within 2 s", delay is not None and delay <= 2, shown)
    )


def through_make_serve(env, saved, args, deadline, report):
    reason = stack.serve_is_available()
    if reason:
        report["skipped"].append(f"make serve: {reason}")
        print(f"skipped: make serve: {reason}")
        return
    with stack.MakeServe(env) as serve:
        serve.start(args.workers, deadline)
        STATIC_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATIC_FILE.write_bytes(saved)  # again, should `make serve` have collected static anew
        status, headers, body = stack.get(serve.base + STATIC_PATH)
        report["make_serve"] = {
            "server": serve.server_header,
            "static_file_served_by": headers.get("Server"),
        }
        static = "make serve: the same bytes, static file"
        if status != 200 or body != saved:
            report["skipped"].append(f"make serve: {STATIC_PATH} answered {status}, not the bytes")
            targets = []
        else:
            targets = [(static, serve.base, STATIC_PATH)]
        article = "make serve: article through nginx"
        r = measure([*targets, (article, serve.base, ARTICLE_PATH)], args, deadline, report)
        if targets:
            compare(r[article], r[static])
        coherence("make serve", serve.base, env["DATABASE_URL"], args, report)
        left = serve.stop()
        report["checks"].append(
            check("make serve: nothing left after SIGINT", not left, left or "none")
        )


def run(args, deadline):
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: sudo apt-get install wrk (Debian and Ubuntu).")
    report = {
        "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s, {args.warmup}s warm-up",
        "rates": [],
        "coherence": [],
        "checks": [],
        "skipped": [],
    }
    print("== PsyWeb page rates ==")
    with (
        stack.fresh_site(args.db_name, args.redis_url, deadline, args.keep_db) as (env, machine),
        tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp,
    ):
        machine.update(
            nginx=stack.command_version("nginx", "-v"), wrk=stack.command_version("wrk", "-v")
        )
        report.update(machine=machine, workers=args.workers)
        print(stack.describe_machine(machine))
        with stack.Gunicorn(env) as site, stack.Gunicorn(env) as ceiling:
            site.start(args.workers, deadline)
            shared_page_checks(site.base, report)
            status, _, saved = stack.get(site.base + ARTICLE_PATH)
            if status != 200:
                raise BenchError(f"GET {ARTICLE_PATH} answered {status}")
            (Path(tmp) / "article.html").write_bytes(saved)
            STATIC_FILE.parent.mkdir(parents=True, exist_ok=True)
            STATIC_FILE.write_bytes(saved)
            ceiling_env = {
                "DJANGO_SETTINGS_MODULE": "bench.ceiling.settings",
                "BENCH_CEILING_PAGE": str(Path(tmp) / "article.html"),
            }
            ceiling.start(args.workers, deadline, ready="/", **ceiling_env)
            r = measure(
                [
                    (CEILING, ceiling.base, "/"),
                    ("gunicorn: article", site.base, ARTICLE_PATH),
                    ("gunicorn: home", site.base, "/"),
                ],
                args,
                deadline,
                report,
            )
            ceiling.stop()
            compare(r["gunicorn: article"], r[CEILING])
            compare(r["gunicorn: home"], r[CEILING])
            coherence("gunicorn alone", site.base, env["DATABASE_URL"], args, report)
        try:
            through_make_serve(env, saved, args, deadline, report)
        finally:
            shutil.rmtree(STATIC_FILE.parent, ignore_errors=True)
    print_table(report, args)
    return 0 if stack.finish(report, args.json) else 1


def print_table(report, args):
    print(f"\nwrk {report['wrk']}, median of {args.rounds}; new visitors, no cookies")
    print(f"{'what':<48} {'req/s':>9} {'ratio':>6} {'non-2xx':>8} {'latency':>9}")
    for r in report["rates"]:
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        latency = f"{r['latency_avg_ms']:.1f} ms"
        print(f"{r['what']:<48} {r['req_s']:>9.1f} {ratio:>6} {r['non_2xx']:>8} {latency:>9}")
    for c in report["coherence"]:
        delay = "never" if c["delay_s"] is None else f"{c['delay_s']:.2f} s"
        print(f"coherence, {c['where']}: {c['what']}: {delay}")
    for r in report["rates"]:
        if "ratio" in r:
            verdict = "meets" if r["ratio"] >= 0.5 else "BELOW"
            print(f"target: {r['what']} / {r['ratio_to']} >= 0.5: {verdict} ({r['ratio']:.2f})")
    for s in report["skipped"]:
        print(f"skipped: {s}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_common_options(p, timeout=900)
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each (2)")
    p.add_argument("--rounds", type=int, default=3, help="runs of each, interleaved (3)")
    p.add_argument("--give-up", type=float, default=10, help="coherence: wait at most, s (10)")
    args = p.parse_args(argv)
    if not (1 <= args.threads <= 16 and args.threads <= args.connections <= 256):
        p.error("--threads must be 1..16 and --connections threads..256")
    if not (1 <= args.duration <= 60 and 1 <= args.warmup <= 30 and 1 <= args.rounds <= 10):
        p.error("--duration must be 1..60 s, --warmup 1..30 s, --rounds 1..10")
    if not 2 <= args.give_up <= 30:
        p.error("--give-up must be 2..30 s")
    return args


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(stack.main("pages", run, arguments, stack.Deadline(arguments.timeout)))
