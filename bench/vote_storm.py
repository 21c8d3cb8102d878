"""Vote storm: are votes lost when many readers vote at once?

N distinct visitors vote on the demo poll at the same time, half through the plain form (303)
and half as the JavaScript island does (state.json, then a JSON vote); the votes the server
accepted are compared with what it counted: polls_vote rows, the sum of the answers' counts and
results.json. Then one fresh visitor double-clicks: K simultaneous POSTs with one cookie, of
which exactly one may count. Traffic goes to 127.0.0.1 only; the run is bounded in count and
time. Exit status: 0 all checks passed, 1 a vote was lost or a count disagrees, 2 the run
could not be set up or was cut short.

    .venv/bin/python bench/vote_storm.py [--visitors 400] [--concurrency 32] [--workers 4]
    .venv/bin/python bench/vote_storm.py --url http://127.0.0.1:8000 \
        --database-url postgres://127.0.0.1:5432/psyweb          # against `make serve`

See bench/README.md.
"""

import argparse
import concurrent.futures
import json
import sys
import threading
import time
import urllib.parse
from collections import Counter

import stack
from stack import POLL_PATH, STATE_PATH, BenchError, Visitor, check

ACCEPTED = {"form": (302, 303), "json": (200,)}  # 302: the form before the shared-page change
TOTALS = ("vote_rows", "count_sum", "json_total")


def one_visitor(index, base, args, js, deadline, stop):
    how = "json" if js and index % 2 else "form"  # half of them as the JS island does
    outcome = {"how": how, "choice": None, "status": None, "error": None, "posted": False}
    if stop.is_set() or deadline.expired():
        return {**outcome, "error": "deadline"}
    visitor = Visitor(base, min(args.request_timeout, max(1, deadline.remaining())))
    try:
        started = time.perf_counter()
        hidden, choices = visitor.form()
        outcome["get_s"] = time.perf_counter() - started
        if how == "json":
            visitor.state()
            outcome["state_s"] = time.perf_counter() - started - outcome["get_s"]
        outcome["choice"] = choices[index % len(choices)]  # round-robin over the answers
        if stop.is_set() or deadline.expired():
            return {**outcome, "error": "deadline"}
        started, outcome["posted"] = time.perf_counter(), True
        outcome["status"], headers = visitor.vote(hidden, outcome["choice"], how)
        outcome["post_s"] = time.perf_counter() - started
        if outcome["status"] == 303:  # a browser goes on to the "your vote" page
            started = time.perf_counter()
            location = urllib.parse.urlsplit(headers.get("Location", ""))
            outcome["landing"] = visitor.get(location._replace(scheme="", netloc="").geturl())[0]
            outcome["landing_s"] = time.perf_counter() - started
    except ValueError as error:
        outcome["error"] = f"bad page: {error}"
    except Exception as error:  # a time-out, a reset, an incomplete read: count it, go on
        outcome["error"] = type(getattr(error, "reason", error)).__name__
    return outcome


def storm(base, args, js, deadline):
    stop = threading.Event()
    started = time.perf_counter()
    pool = concurrent.futures.ThreadPoolExecutor(args.concurrency, thread_name_prefix="visitor")
    try:
        futures = [
            pool.submit(one_visitor, i, base, args, js, deadline, stop)
            for i in range(args.visitors)
        ]
        concurrent.futures.wait(futures, timeout=max(0, deadline.remaining()) + 1)
    finally:  # visitors not started by the deadline are cancelled; the others finish
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    outcomes = [{"error": "deadline"} if f.cancelled() else f.result() for f in futures]
    return outcomes, time.perf_counter() - started


def double_click(base, clicks, timeout, js):
    """A fresh visitor gets their cookie, then sends `clicks` identical POSTs at once."""
    visitor = Visitor(base, timeout)
    hidden, choices = visitor.form()
    if js:
        visitor.state()
    barrier = threading.Barrier(clicks)

    def click(i):
        how = "json" if js and i % 2 else "form"
        try:
            barrier.wait(timeout=30)
            return how, visitor.vote(hidden, choices[0], how)[0]
        except Exception as error:
            return how, type(getattr(error, "reason", error)).__name__

    with concurrent.futures.ThreadPoolExecutor(clicks, thread_name_prefix="click") as pool:
        answers = list(pool.map(click, range(clicks)))
    accepted = sum(status in ACCEPTED[how] for how, status in answers)
    return accepted, dict(Counter(str(status) for _, status in answers))


def counted(base, database_url, timeout):
    """What the server counted: rows and counts now, results.json once it is surely fresh."""
    c = stack.poll_counts(database_url)
    time.sleep(2)  # results.json is a shared page, up to ~1.5 s old
    status, _, body = stack.get(base + POLL_PATH + "results.json", timeout=timeout)
    if status != 200:
        raise BenchError(f"GET {POLL_PATH}results.json answered {status}")
    results = json.loads(body)
    c["shown"] = {
        str(ch["id"]): ch["votes"] for ch in results["choices"] if ch["votes"] is not None
    }
    c.update(vote_rows=sum(c["rows"].values()), count_sum=sum(c["counts"].values()))
    return {**c, "json_total": results["total_votes"]}


def rise(before, after):
    """How much each count rose, in all and per choice."""
    d = {k: after[k] - before[k] for k in TOTALS}
    for k in ("rows", "counts", "shown"):
        d[k] = {c: n - before[k].get(c, 0) for c, n in after[k].items()}
    return d


def measure(base, database_url, args, deadline, report):
    js = stack.get(base + STATE_PATH, timeout=args.request_timeout)[0] == 200
    report["paths"] = "form (303) + JS (state.json, JSON vote)" if js else "form (no state.json)"
    print(f"Storm: {args.visitors} visitors, {args.concurrency} at once; {report['paths']}")
    before = counted(base, database_url, args.request_timeout)
    outcomes, elapsed = storm(base, args, js, deadline)
    ok = [o for o in outcomes if o.get("status") in ACCEPTED.get(o.get("how"), ())]
    after = counted(base, database_url, args.request_timeout)
    d, n = rise(before, after), len(ok)
    report["storm"] = s = {
        "accepted": n,
        "answers": Counter(f"{o.get('how')} {o.get('status') or o['error']}" for o in outcomes),
        "unanswered_posts": sum(1 for o in outcomes if o.get("posted") and o["status"] is None),
        "elapsed_s": round(elapsed, 2),
        "visitors_per_s": round(sum(o.get("status") is not None for o in outcomes) / elapsed, 1),
        **{
            f"{step}_ms": stack.latency([o[f"{step}_s"] for o in outcomes if f"{step}_s" in o])
            for step in ("get", "state", "post", "landing")
        },
        "landings": Counter(str(o["landing"]) for o in outcomes if "landing" in o),
        "counted": {k: d[k] for k in TOTALS},
        "lost": n - d["count_sum"],
    }
    print(f"accepted {n}; answers {dict(s['answers'])}; {s['visitors_per_s']} visitors/s")
    print(f"counted {s['counted']}; lost (accepted - counted): {s['lost']}")
    print(
        f"ms p50/p95/max: poll page {s['get_ms']}; state.json {s['state_ms']}; "
        f"vote POST {s['post_ms']}; page after the 303 {s['landing_ms']}"
    )
    if s["unanswered_posts"]:
        print(f"POSTs sent without an answer (may have been counted): {s['unanswered_posts']}")
    report["checks"] = [
        check(f"accepted == rise of {k}", n == d[k], f"{n} vs {d[k]}") for k in TOTALS
    ]
    landed = s["landings"].get("200", 0) == sum(s["landings"].values())
    report["checks"].append(check("each 303 led to a page (200)", landed, dict(s["landings"])))
    by_choice = Counter(o["choice"] for o in ok)
    for c in sorted(d["counts"], key=int):
        v = [by_choice[c], d["rows"].get(c, 0), d["counts"][c], d["shown"].get(c, "hidden")]
        same = len(set(v) - {"hidden"}) == 1
        report["checks"].append(check(f"choice {c}: accepted, rows, count, shown", same, v))
    no_click = bool(args.double_click) and deadline.expired()
    cut_short = no_click or any(o["error"] == "deadline" for o in outcomes)
    if args.double_click and not no_click:
        accepted, answers = double_click(base, args.double_click, args.request_timeout, js)
        d = rise(after, counted(base, database_url, args.request_timeout))
        report["double_click"] = {"accepted": accepted, "answers": answers, "rise": d}
        report["checks"] += [
            check(
                f"double-click ({args.double_click} POSTs): one accepted", accepted == 1, answers
            ),
            check("double-click: the others 409", answers.get("409") == args.double_click - 1, ""),
            *(check(f"double-click: {k} rose by 1", d[k] == 1, f"+{d[k]}") for k in TOTALS),
        ]
    report["checks"].append(check("finished before the deadline", not cut_short, args.timeout))
    return cut_short


def run(args, deadline):
    report = {"visitors": args.visitors, "concurrency": args.concurrency}
    print("== PsyWeb vote storm ==")
    if args.url:
        base = stack.local_url(args.url)
        report.update(machine=stack.machine_info(), server=f"already running at {base}")
        print(stack.describe_machine(report["machine"]))
        cut_short = measure(base, stack.local_url(args.database_url), args, deadline, report)
    else:
        with (
            stack.fresh_site(args.db_name, args.redis_url, deadline, args.keep_db) as (env, m),
            stack.Gunicorn(env) as server,
        ):
            server.start(args.workers, deadline)
            report.update(machine=m, server=f"gunicorn, {args.workers} workers, {args.redis_url}")
            print(stack.describe_machine(m))
            cut_short = measure(server.base, env["DATABASE_URL"], args, deadline, report)
    return 0 if stack.finish(report, args.json) else 2 if cut_short else 1


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack.add_common_options(p, timeout=300)
    p.add_argument("--visitors", type=int, default=400, help="distinct voters (400)")
    p.add_argument("--concurrency", type=int, default=32, help="voters at once (32)")
    p.add_argument("--request-timeout", type=float, default=30, help="per request, s (30)")
    p.add_argument("--double-click", type=int, default=20, metavar="K", help="clicks (20; 0 off)")
    p.add_argument("--url", help="vote on a running site, e.g. http://127.0.0.1:8000")
    p.add_argument("--database-url", help="with --url: the running site's DATABASE_URL")
    args = p.parse_args(argv)
    if bool(args.url) != bool(args.database_url):
        p.error("--url and --database-url go together")
    if not (1 <= args.visitors <= 10_000 and 1 <= args.concurrency <= 256):
        p.error("--visitors must be 1..10000 and --concurrency 1..256")
    if not 0 <= args.double_click <= 200 or args.timeout <= 0 or args.request_timeout <= 0:
        p.error("--double-click must be 0..200; --timeout and --request-timeout positive")
    return args


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(stack.main("vote_storm", run, arguments, stack.Deadline(arguments.timeout)))
