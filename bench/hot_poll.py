"""Hot poll: how many ballots a second can one poll take, and what limits it?

Before counter slots, every ballot for one answer updated that answer's one `polls_choice` row,
and every ballot in a poll upserted the poll's one `polls_pollday` row for the day, in the
ballot's transaction, so simultaneous ballots queued on those rows' locks, each waiting for the
one before to commit. Now each of those counts is spread over counter slots (`polls_choiceslot`,
`polls_polldayslot`: N rows each, one chosen at random per ballot, summed when read).
This measures `polls.services.record_vote` against PostgreSQL directly (no HTTP, no cache), with
1 to 64 writers at once, each a process of its own with its own connection (processes, not
threads, so that Python's GIL is not what is measured); the same without slots, as it was
(`orm-one-row`); and the statements in raw SQL with one hot row, the other, both or neither,
or slots. While each step runs, PostgreSQL's wait events show whether the writers queue on row
locks, on the WAL, or on the CPU.

Then it checks that every count is exact, and measures what a million ballots weigh (tables,
indexes) and cost to count.

Everything happens in a throwaway database (`hotpoll`) on 127.0.0.1, dropped at the end, even
on failure. Exit status: 0 every count exact, 1 a count disagrees, 2 not set up or cut short.

    .venv/bin/python bench/hot_poll.py [--writers 1,2,4,8,16,32,64] [--duration 5] [--rounds 3]

See bench/README.md.
"""

import argparse
import contextlib
import datetime
import hashlib
import multiprocessing
import os
import random
import signal
import statistics
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import stack
from stack import ROOT, BenchError, check

ANSWERS = 64  # each test poll has this many, so that every writer can have one of its own
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

# What each variant writes per ballot. "hot" rows are shared by every writer.
VARIANTS = {
    "orm-1": "record_vote, one answer: its counts in counter slots (the site)",
    "orm-one-row": "record_vote as before counter slots: its Choice row and the PollDay row hot",
    "orm-3": "record_vote, three answers in turn",
    "orm-limit": "the vote view's writes: AddressLimit.reserve() + record_vote, a new address each",
    "orm-limit-1tx": "orm-limit in one transaction: the address count commits with the ballot",
    "orm-cold": "record_vote, each writer its own answer and day: no hot row",
    "sql-1": "orm-one-row's statements in raw SQL, one answer: Choice and PollDay hot",
    "sql-choice": "raw SQL, one answer, each writer its own day: only the Choice row hot",
    "sql-day": "raw SQL, each writer its own answer, one day: only the PollDay row hot",
    "sql-cold": "raw SQL, each writer its own answer and day: no hot row",
    "sql-slots": "record_vote's statements in raw SQL, one answer, in --slots slots each",
    "sql-1-onetrip": "sql-1 sent in one round trip: the lock is held only inside the server",
    "sql-1-async": "sql-1 with synchronous_commit=off: no wait for the WAL flush (diagnostic)",
}

# Counter slots as polls.services adds to them (count_the_answer, count_the_day): an upsert of
# one of N rows, chosen at random, made from the answer's own row so that an answer of another
# poll makes nothing.
CHOICE_SLOT_UPSERT = (
    "INSERT INTO polls_choiceslot (choice_id, slot, votes)"
    " SELECT id, %s, 1 FROM polls_choice WHERE id = %s AND poll_id = %s"
    " ON CONFLICT (choice_id, slot) DO UPDATE SET votes = polls_choiceslot.votes + 1"
)
DAY_SLOT_UPSERT = (
    "INSERT INTO polls_polldayslot (poll_id, date, slot, ballots) VALUES (%s, %s, %s, 1) "
    "ON CONFLICT (poll_id, date, slot) DO UPDATE SET ballots = polls_polldayslot.ballots + 1"
)
# What record_vote sent before counter slots, statement by statement (the ORM's SQL, with the
# same round trips).
VOTE_INSERT = "INSERT INTO polls_vote (id, poll_id, voter_key) VALUES (%s, %s, %s)"
SELECTION_INSERT = "INSERT INTO polls_selection (vote_id, choice_id) VALUES (%s, %s)"
CHOICE_UPDATE = "UPDATE polls_choice SET votes = votes + 1 WHERE id = %s AND poll_id = %s"
DAY_UPSERT = (
    "INSERT INTO polls_pollday (poll_id, date, ballots) VALUES (%s, %s, 1) "
    "ON CONFLICT (poll_id, date) DO UPDATE SET ballots = polls_pollday.ballots + 1"
)
# The same transaction in one message. The UPDATE must match one row, or the answer is not the
# poll's: a statement cannot raise, so a division by zero fails the transaction instead.
ONE_TRIP = ";".join(
    (
        "BEGIN",
        VOTE_INSERT,
        SELECTION_INSERT,
        "WITH u AS (UPDATE polls_choice SET votes = votes + 1 WHERE id = %s AND poll_id = %s"
        " RETURNING 1) SELECT 1 / (SELECT count(*) FROM u)::int",
        DAY_UPSERT,
        "COMMIT",
    )
)
WAITS = ("row lock", "other lock", "WAL", "CPU", "client", "other")


# --- The writers (forked processes) -------------------------------------------------------


def cpu_seconds(pid):
    """User + system CPU time of a process on this machine, or None if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


class Writer:
    """One writer: a process with its own database connection, voting as told."""

    def __init__(self, index, slots):
        from django.db import connection

        self.index, self.slots, self.connection = index, slots, connection
        self.addresses = 0

    def serve(self, pipe):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the writers
        while True:
            try:
                task = pipe.recv()
            except EOFError:
                break
            if task is None:
                break
            try:
                pipe.send(self.run(task))
            except Exception:
                pipe.send({"failed": traceback.format_exc()})
        self.connection.close()

    def run(self, task):
        from django.utils import timezone

        from polls.models import Poll

        poll = Poll.objects.get(pk=task["poll_id"])
        choices = task["choice_ids"]
        self.connection.ensure_connection()
        raw = self.connection.connection
        backend = raw.get_backend_pid()
        vote = getattr(self, "vote_" + task["variant"].replace("-", "_"))
        today = timezone.localdate()
        latencies, errors = [], Counter()
        time.sleep(max(0, task["start_at"] - time.monotonic()))
        cpu, server_cpu = time.process_time(), cpu_seconds(backend)
        n = 0
        while time.monotonic() < task["end_at"]:
            key = hashlib.sha256(f"{task['tag']}:{self.index}:{n}".encode()).hexdigest()
            started = time.perf_counter()
            try:
                vote(poll, choices, key, today, n, raw)
            except Exception as error:
                errors[type(error).__name__] += 1
                self.end_failed_transaction(raw)
            else:
                latencies.append(time.perf_counter() - started)
            n += 1
        server_after = cpu_seconds(backend)
        # Report this backend's WAL statistics now, not in 1-10 s (PostgreSQL 15 and later).
        with raw.cursor() as cursor, contextlib.suppress(psycopg2.Error):
            cursor.execute("SELECT pg_stat_force_next_flush()")
        self.end_failed_transaction(raw)
        return {
            "latencies": latencies,
            "errors": dict(errors),
            "finished": time.monotonic(),
            "client_cpu": time.process_time() - cpu,
            "server_cpu": None if server_cpu is None else server_after - server_cpu,
        }

    @staticmethod
    def end_failed_transaction(raw):
        """Roll back what a raw-SQL ballot left open (the ORM's atomic() does it itself)."""
        if raw.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            with raw.cursor() as cursor:
                cursor.execute("ROLLBACK")

    def new_client(self):
        """A request from an address (an IPv6 /64) that has not voted before."""
        self.addresses += 1
        a = self.addresses
        address = f"fd{self.index:02x}:{a >> 32 & 0xFFFF:x}:{a >> 16 & 0xFFFF:x}:{a & 0xFFFF:x}::1"
        return SimpleNamespace(META={"REMOTE_ADDR": address})

    # The site's code.

    def vote_orm_1(self, poll, choices, key, today, n, raw):
        from polls.services import record_vote

        record_vote(poll=poll, choice_ids=[choices[0]], voter_key=key)

    def vote_orm_3(self, poll, choices, key, today, n, raw):
        from polls.services import record_vote

        record_vote(poll=poll, choice_ids=[choices[(self.index + n) % 3]], voter_key=key)

    def vote_orm_limit(self, poll, choices, key, today, n, raw):
        from polls.ratelimit import AddressLimit
        from polls.services import record_vote

        with AddressLimit(self.new_client(), poll).reserve():
            record_vote(poll=poll, choice_ids=[choices[0]], voter_key=key)

    def vote_orm_limit_1tx(self, poll, choices, key, today, n, raw):
        from django.db import transaction

        with transaction.atomic():  # one commit (and one WAL flush) instead of two
            self.vote_orm_limit(poll, choices, key, today, n, raw)

    def vote_orm_cold(self, poll, choices, key, today, n, raw):
        from django.utils import timezone

        from polls.services import record_vote

        at = timezone.now() - datetime.timedelta(days=self.index)  # a PollDay row of its own
        record_vote(poll=poll, choice_ids=[choices[self.index]], voter_key=key, at=at)

    def vote_orm_one_row(self, poll, choices, key, today, n, raw):
        """record_vote as it was before counter slots: one answer's row, one day's row."""
        from django.db import transaction
        from django.db.models import F

        from polls.models import Choice, Selection, Vote
        from polls.services import InvalidChoice

        with transaction.atomic():
            vote = Vote.objects.create(poll=poll, voter_key=key)
            Selection.objects.bulk_create([Selection(vote=vote, choice_id=choices[0])])
            answer = Choice.objects.filter(pk=choices[0], poll=poll)
            if not answer.update(folded_votes=F("folded_votes") + 1):
                raise InvalidChoice
            with self.connection.cursor() as cursor:
                cursor.execute(DAY_UPSERT, [poll.pk, today])

    # The same statements in raw SQL, one round trip each as the ORM sends them.

    def sql_ballot(self, raw, poll_id, choice_id, key, date, slot=None, synchronous=True):
        with raw.cursor() as cursor:
            cursor.execute("BEGIN")
            if not synchronous:
                cursor.execute("SET LOCAL synchronous_commit = off")
            vote_id = str(uuid.uuid4())
            cursor.execute(VOTE_INSERT, [vote_id, poll_id, key])
            cursor.execute(SELECTION_INSERT, [vote_id, choice_id])
            if slot is None:
                cursor.execute(CHOICE_UPDATE, [choice_id, poll_id])
            else:
                cursor.execute(CHOICE_SLOT_UPSERT, [slot, choice_id, poll_id])
            if cursor.rowcount != 1:
                raise ValueError("not one of this poll's answers")
            if slot is None:
                cursor.execute(DAY_UPSERT, [poll_id, date])
            else:  # the day's slot drawn apart from the answer's, as record_vote does
                cursor.execute(DAY_SLOT_UPSERT, [poll_id, date, random.randrange(self.slots)])  # noqa: S311
            cursor.execute("COMMIT")

    def vote_sql_1(self, poll, choices, key, today, n, raw):
        self.sql_ballot(raw, poll.pk, choices[0], key, today)

    def vote_sql_choice(self, poll, choices, key, today, n, raw):
        self.sql_ballot(raw, poll.pk, choices[0], key, today - datetime.timedelta(self.index))

    def vote_sql_day(self, poll, choices, key, today, n, raw):
        self.sql_ballot(raw, poll.pk, choices[self.index], key, today)

    def vote_sql_cold(self, poll, choices, key, today, n, raw):
        date = today - datetime.timedelta(self.index)
        self.sql_ballot(raw, poll.pk, choices[self.index], key, date)

    def vote_sql_slots(self, poll, choices, key, today, n, raw):
        slot = random.randrange(self.slots)  # noqa: S311 - spreading load, not a secret
        self.sql_ballot(raw, poll.pk, choices[0], key, today, slot=slot)

    def vote_sql_1_async(self, poll, choices, key, today, n, raw):
        self.sql_ballot(raw, poll.pk, choices[0], key, today, synchronous=False)

    def vote_sql_1_onetrip(self, poll, choices, key, today, n, raw):
        """The whole transaction in one message: no client round trip while the locks are held."""
        vote_id = str(uuid.uuid4())
        with raw.cursor() as cursor:
            cursor.execute(
                ONE_TRIP,
                [vote_id, poll.pk, key, vote_id, choices[0], choices[0], poll.pk, poll.pk, today],
            )


def writer_main(index, slots, pipe):
    Writer(index, slots).serve(pipe)


# --- Watching PostgreSQL while the writers write --------------------------------------------


def wait_category(state, kind, event):
    if state == "idle in transaction":
        return "client"  # holding its locks while its process runs Python (or waits for a core)
    if kind == "Lock":
        return "row lock" if event in ("transactionid", "tuple") else "other lock"
    if kind in ("LWLock", "IO") and event and event.startswith("WAL"):
        return "WAL"
    if kind is None:
        return "CPU"  # running, or waiting for a core
    if kind == "Client":
        return "client"
    return "other"


class Sampler(threading.Thread):
    """Counts what the database's backends are doing, every `every` seconds, in a window."""

    SQL = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND state <> 'idle'"
    )

    def __init__(self, conn, start_at, end_at, every=0.02):
        super().__init__(daemon=True)
        self.conn, self.start_at, self.end_at, self.every = conn, start_at, end_at, every
        self.samples, self.counts, self.events, self.busy = 0, Counter(), Counter(), []

    def run(self):
        time.sleep(max(0, self.start_at - time.monotonic()))
        self.busy.append(machine_busy())
        time.sleep(0.2)  # past the first ballots
        with self.conn.cursor() as cursor:
            while time.monotonic() < self.end_at - 0.1:
                cursor.execute(self.SQL)
                rows = cursor.fetchall()
                self.counts.update(wait_category(*row) for row in rows)
                self.events.update(f"{kind}:{event}" for _, kind, event in rows if kind)
                self.samples += 1
                time.sleep(self.every)
        time.sleep(max(0, self.end_at - time.monotonic()))
        self.busy.append(machine_busy())

    def busy_pct(self):
        """How busy the machine's cores were between the start and the end, in %."""
        (busy, total), (busy_after, total_after) = self.busy
        return round(100 * (busy_after - busy) / max(1, total_after - total))

    def mean_backends(self, counts=None, keys=WAITS):
        """How many backends were in each state (or wait event), on average over the samples."""
        counts = self.counts if counts is None else counts
        return {k: round(counts[k] / max(1, self.samples), 1) for k in keys or counts}


def machine_busy():
    """(busy, total) CPU ticks of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def wal_flushes(conn):
    with conn.cursor() as cursor:
        cursor.execute("SELECT wal_sync FROM pg_stat_wal")
        return cursor.fetchone()[0]


# --- The run ---------------------------------------------------------------------------------


class Writers:
    """`count` forked writer processes, stopped at the end whatever happens."""

    def __init__(self, count, slots):
        context = multiprocessing.get_context("fork")
        self.pipes, self.processes = [], []
        for index in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=writer_main, args=(index, slots, theirs), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def stop(self):
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    def step(self, variant, poll, writers, duration, tag, monitor, deadline):
        """`writers` of them vote for `duration` seconds; what came of it."""
        deadline.check(f"{variant} with {writers} writers")
        start_at = time.monotonic() + 0.5 + 0.01 * writers  # time to fetch the poll, connect
        end_at = start_at + duration
        task = {
            "variant": variant,
            "poll_id": poll["id"],
            "choice_ids": poll["choice_ids"],
            "start_at": start_at,
            "end_at": end_at,
            "tag": tag,
        }
        sampler = Sampler(monitor, start_at, end_at)
        flushes = wal_flushes(monitor)
        for pipe in self.pipes[:writers]:
            pipe.send(task)
        sampler.start()
        results = []
        for pipe in self.pipes[:writers]:
            if not pipe.poll(max(1, end_at + 60 - time.monotonic())):
                raise BenchError(f"A writer did not report within 60 s of the end of {tag}.")
            results.append(pipe.recv())
        sampler.join()
        flushes_after = wal_flushes(monitor)
        failed = [r["failed"] for r in results if "failed" in r]
        if failed:
            raise BenchError(f"A writer failed in {tag}:\n{failed[0]}")
        latencies = sorted(x for r in results for x in r["latencies"])
        votes = len(latencies)
        elapsed = max(r["finished"] for r in results) - start_at
        server = [r["server_cpu"] for r in results]
        errors = sum((Counter(r["errors"]) for r in results), Counter())

        def per_vote_ms(seconds):
            return round(1000 * seconds / votes, 2) if votes else None

        return {
            "writers": writers,
            "votes": votes,
            "votes_per_s": round(votes / elapsed, 1),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if votes else None,
            "p99_ms": round(1000 * latencies[int(0.99 * (votes - 1))], 2) if votes else None,
            "errors": dict(errors),
            "waits": sampler.mean_backends(),
            "wait_events": sampler.mean_backends(Counter(dict(sampler.events.most_common(6))), ()),
            "samples": sampler.samples,
            "client_cpu_ms_per_vote": per_vote_ms(sum(r["client_cpu"] for r in results)),
            "server_cpu_ms_per_vote": None if None in server else per_vote_ms(sum(server)),
            "machine_busy_pct": sampler.busy_pct(),
            "wal_flushes_per_vote": round((flushes_after - flushes) / votes, 2) if votes else None,
        }


def make_polls(variants):
    """One poll per variant, open since long ago, with ANSWERS answers: {variant: poll}."""
    from django.utils import timezone

    from polls.models import Choice, Poll

    polls = {}
    for variant in variants:
        poll = Poll.objects.create(
            question=f"Hot poll ({variant})?",
            slug=f"hot-{variant}",
            opens_at=timezone.now() - datetime.timedelta(days=365),
        )
        Choice.objects.bulk_create(
            Choice(poll=poll, text=f"Answer {n + 1}", order=n) for n in range(ANSWERS)
        )
        ids = list(poll.choices.order_by("pk").values_list("pk", flat=True))
        polls[variant] = {"id": poll.pk, "choice_ids": ids}
    return polls


def exactness(polls, accepted):
    """Checks that every count, its slots added in, equals its rows; then recount finds nothing;
    then the slots folded into the answers (as staff's deletions and repairs do) change nothing."""
    from django.db import connection, transaction

    from polls.services import fold, recount

    checks = []
    with connection.cursor() as cursor:
        for variant, poll in polls.items():
            cursor.execute("SELECT count(*) FROM polls_vote WHERE poll_id = %s", [poll["id"]])
            ballots = cursor.fetchone()[0]
            cursor.execute(
                "SELECT c.id, c.votes + coalesce((SELECT sum(votes) FROM polls_choiceslot s"
                " WHERE s.choice_id = c.id), 0),"
                " (SELECT count(*) FROM polls_selection s WHERE s.choice_id = c.id)"
                " FROM polls_choice c WHERE c.poll_id = %s",
                [poll["id"]],
            )
            wrong = [
                (c, counted, rows) for c, counted, rows in cursor.fetchall() if counted != rows
            ]
            cursor.execute(
                "SELECT coalesce((SELECT sum(ballots) FROM polls_pollday WHERE poll_id = %s), 0)"
                " + coalesce((SELECT sum(ballots) FROM polls_polldayslot WHERE poll_id = %s), 0)",
                [poll["id"], poll["id"]],
            )
            days = cursor.fetchone()[0]
            checks += [
                check(
                    f"{variant}: Vote rows == ballots accepted",
                    ballots == accepted[variant],
                    f"{ballots} vs {accepted[variant]}",
                ),
                check(f"{variant}: each answer's count == its Selection rows", not wrong, wrong),
                check(f"{variant}: days' ballots == Vote rows", days == ballots, (days, ballots)),
            ]
    drift = recount(repair=False)
    checks.append(check("recount(repair=False) == []", drift == [], drift))
    with transaction.atomic():
        for poll in polls.values():
            for choice_id in poll["choice_ids"]:
                fold(choice_id)
    drift = recount(repair=False)
    checks.append(check("recount(repair=False) == [] (slots folded in)", drift == [], drift))
    return checks


def counter_tables(conn):
    """The counters' tables after the run: every +1 is an UPDATE, i.e. a new row version;
    HOT updates (same page, no index change) are cleaned up without VACUUM."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd, n_live_tup, n_dead_tup,"
            " pg_relation_size(relid) FROM pg_stat_user_tables WHERE relname IN"
            " ('polls_choice', 'polls_pollday', 'polls_choiceslot', 'polls_polldayslot')"
            " ORDER BY relname"
        )
        return {
            name: {
                "updates": updates,
                "hot_updates": hot,
                "live_rows": live,
                "dead_rows": dead,
                "kib": size // 1024,
            }
            for name, updates, hot, live, dead, size in cursor.fetchall()
        }


# --- What a million ballots weigh ------------------------------------------------------------


def timed(cursor, statement, params=(), repeat=1):
    """The median time of `repeat` runs of a statement, in ms; and its last result."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        cursor.execute(statement, params)
        row = cursor.fetchone() if cursor.description else None
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 1), row


def sizes(cursor):
    """{table or index: bytes} of the ballot tables: (heap, indexes, total) and each index."""
    cursor.execute(
        "SELECT c.relname, pg_relation_size(c.oid), pg_indexes_size(c.oid),"
        " pg_total_relation_size(c.oid) FROM pg_class c"
        " WHERE c.relname IN ('polls_vote', 'polls_selection')"
    )
    found = {name: (heap, indexes, total) for name, heap, indexes, total in cursor.fetchall()}
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index"
        " WHERE indrelid IN ('polls_vote'::regclass, 'polls_selection'::regclass)"
    )
    return {**found, **dict(cursor.fetchall())}


def weigh_ballots(database_url, count, deadline):
    """Insert `count` ballots (1.5 answers each) in a "check all that apply" poll; measure."""
    from django.db import connection

    from polls.models import Choice, Poll
    from polls.services import recount

    deadline.check("the million ballots")
    poll = Poll.objects.create(question="Sizing?", slug="sizing", max_choices=3)
    Choice.objects.bulk_create(Choice(poll=poll, text=f"Answer {n}", order=n) for n in range(5))
    choices = list(poll.choices.order_by("pk").values_list("pk", flat=True))
    connection.close()
    out = {"ballots": count, "selections_per_ballot": 1.5}
    # These statements take a while: no statement timeout, and not the site's wait limit
    # (psyweb.db, installed for every psycopg2 connection of this process), put back after.
    psycopg2.extensions.set_wait_callback(None)
    conn = stack.pg_connect(database_url)
    try:
        with conn.cursor() as cur:
            before = sizes(cur)
            started = time.perf_counter()
            cur.execute("BEGIN")
            cur.execute(
                "INSERT INTO polls_vote (id, poll_id, voter_key) SELECT gen_random_uuid(), %s,"
                " encode(sha256(('sizing:' || g)::bytea), 'hex') FROM generate_series(1, %s) g",
                [poll.pk, count],
            )
            # Every ballot one answer; every other ballot a second one.
            cur.execute(
                "INSERT INTO polls_selection (vote_id, choice_id)"
                " SELECT id, (%s::bigint[])[1 + n %% 5] FROM (SELECT id, row_number() OVER () n"
                " FROM polls_vote WHERE poll_id = %s) v"
                " UNION ALL SELECT id, (%s::bigint[])[1 + (n + 1) %% 5] FROM (SELECT id,"
                " row_number() OVER () n FROM polls_vote WHERE poll_id = %s) v WHERE n %% 2 = 0",
                [choices, poll.pk, choices, poll.pk],
            )
            cur.execute(
                "UPDATE polls_choice c SET votes = s.n FROM (SELECT choice_id, count(*) n"
                " FROM polls_selection GROUP BY choice_id) s"
                " WHERE c.id = s.choice_id AND c.poll_id = %s",
                [poll.pk],
            )
            cur.execute(
                "INSERT INTO polls_pollday (poll_id, date, ballots) VALUES (%s, current_date, %s)",
                [poll.pk, count],
            )
            cur.execute("COMMIT")
            out["insert_s"] = round(time.perf_counter() - started, 1)
            count_sql = "SELECT count(*) FROM polls_vote WHERE poll_id = %s"
            out["count_before_vacuum_ms"], _ = timed(cur, count_sql, [poll.pk], repeat=3)
            started = time.perf_counter()
            cur.execute("VACUUM (ANALYZE) polls_vote, polls_selection")
            out["vacuum_s"] = round(time.perf_counter() - started, 1)
            out["count_ms"], _ = timed(cur, count_sql, [poll.pk], repeat=3)
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + count_sql, [poll.pk])
            plan = [line for (line,) in cur.fetchall()]
            out["count_plan"] = next((p.strip() for p in plan if "Scan" in p), "?")
            after = sizes(cur)
            for table in ("polls_vote", "polls_selection"):
                heap, indexes, total = (
                    a - b for a, b in zip(after[table], before[table], strict=True)
                )
                rows = count * (1.5 if table == "polls_selection" else 1)
                out[table] = {
                    "heap_mib": round(heap / 2**20, 1),
                    "indexes_mib": round(indexes / 2**20, 1),
                    "total_mib": round(total / 2**20, 1),
                    "bytes_per_row": round(total / rows),
                }
            out["indexes_mib"] = {
                name: round((size - before.get(name, 0)) / 2**20, 1)
                for name, size in after.items()
                if isinstance(size, int)
            }
            # What deleting the poll's ballots costs the database (the admin's delete also
            # loads every ballot into Python first, to cascade), rolled back.
            cur.execute("BEGIN")
            started = time.perf_counter()
            cur.execute(
                "DELETE FROM polls_selection s USING polls_vote v"
                " WHERE s.vote_id = v.id AND v.poll_id = %s",
                [poll.pk],
            )
            cur.execute("DELETE FROM polls_vote WHERE poll_id = %s", [poll.pk])
            out["delete_s"] = round(time.perf_counter() - started, 1)
            cur.execute("ROLLBACK")
            cur.execute("VACUUM polls_vote, polls_selection")
    finally:
        conn.close()
        from psyweb import db

        db.install()
    poll = Poll.objects.get(pk=poll.pk)
    started = time.perf_counter()
    out["total_votes"] = poll.total_votes  # a COUNT of ballots: "check all that apply"
    out["total_votes_ms"] = round(1000 * (time.perf_counter() - started), 1)
    started = time.perf_counter()
    try:
        drift = recount([poll], repair=False)
        out["recount_ms"] = round(1000 * (time.perf_counter() - started), 1)
        out["recount_drift"] = len(drift)
    except Exception as error:  # the site's statement timeout (5 s) may cut it short
        out["recount_ms"] = f"failed after {time.perf_counter() - started:.1f} s: {error}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        out["database_size"] = cursor.fetchone()[0]
    return out


# --- Report ----------------------------------------------------------------------------------


def median_run(runs):
    ordered = sorted(runs, key=lambda r: r["votes_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def cell(value, width):
    return f"{'-' if value is None else value:>{width}}"


def print_table(variant, by_writers):
    print(f"\n{variant}: {VARIANTS[variant]}")
    print(
        f"{'writers':>7} {'votes/s':>8} {'(min-max)':>15} {'p50 ms':>7} {'p99 ms':>7}"
        "  backends: row-lock  WAL  CPU client other | busy% cpu ms/vote cli+srv"
        "  flushes/vote errors"
    )
    for writers, runs in sorted(by_writers.items()):
        m = median_run(runs)
        rates = [r["votes_per_s"] for r in runs]
        w = m["waits"]
        server = m["server_cpu_ms_per_vote"]
        errors = sum(sum(r["errors"].values()) for r in runs)
        print(
            f"{writers:>7} {m['votes_per_s']:>8.0f} {f'{min(rates):.0f}-{max(rates):.0f}':>15}"
            f" {cell(m['p50_ms'], 7)} {cell(m['p99_ms'], 7)}"
            f"  {w['row lock']:>17} {w['WAL']:>4} {w['CPU']:>4} {w['client']:>6}"
            f" {w['other lock'] + w['other']:>5} | {m['machine_busy_pct']:>5}"
            f" {cell(m['client_cpu_ms_per_vote'], 7)}+{cell(server, 0)}"
            f" {cell(m['wal_flushes_per_vote'], 13)} {errors:>6}"
        )
    events = median_run(by_writers[max(by_writers)])["wait_events"]
    print(f"{'':>7} wait events at {max(by_writers)} writers (backends): {events}")


# What each change is worth: (changed, baseline), compared round by round.
GAINS = [
    ("orm-1", "orm-one-row"),
    ("orm-cold", "orm-1"),
    ("orm-3", "orm-1"),
    ("orm-limit", "orm-1"),
    ("orm-limit-1tx", "orm-limit"),
    ("sql-slots", "sql-1"),
    ("sql-cold", "sql-1"),
    ("sql-choice", "sql-1"),
    ("sql-day", "sql-1"),
    ("sql-1-onetrip", "sql-1"),
    ("sql-1-async", "sql-1"),
]


def gains(results):
    """{"a / b": {writers: median over rounds of a's rate / b's rate in the same round}}."""
    out = {}
    for a, b in GAINS:
        if a in results and b in results:
            out[f"{a} / {b}"] = {
                n: round(
                    statistics.median(
                        x["votes_per_s"] / max(0.1, y["votes_per_s"])
                        for x, y in zip(results[a][n], results[b][n], strict=True)
                    ),
                    2,
                )
                for n in sorted(results[a])
            }
    return out


def print_gains(table):
    if not table:
        return
    counts = next(iter(table.values()))
    print("\nvotes/s relative to the baseline, median of the rounds' ratios, by writers:")
    print(f"{'':>24}" + "".join(f"{n:>7}" for n in counts))
    for name, by_count in table.items():
        print(f"{name:>24}" + "".join(f"{by_count[n]:>7.2f}" for n in counts))


def print_weights(w):
    print(
        f"\nWhat ballots weigh: {w['ballots']:,} ballots, {w['selections_per_ballot']} answers each"
    )
    for table in ("polls_vote", "polls_selection"):
        t = w[table]
        print(
            f"  {table}: heap {t['heap_mib']} MiB + indexes {t['indexes_mib']} MiB ="
            f" {t['total_mib']} MiB ({t['bytes_per_row']} bytes a row)"
        )
    print(f"  indexes (MiB): {w['indexes_mib']}")
    print(
        f"  insert {w['insert_s']} s; VACUUM (ANALYZE) {w['vacuum_s']} s; delete the poll's"
        f" ballots {w['delete_s']} s (rolled back); database {w['database_size']}"
    )
    print(
        f"  COUNT of the poll's ballots (Poll.total_votes, check-all polls): "
        f"{w['count_before_vacuum_ms']} ms before VACUUM, {w['count_ms']} ms after"
        f" ({w['count_plan']}); through the ORM {w['total_votes_ms']} ms"
    )
    print(f"  recount(repair=False) of that poll: {w['recount_ms']} ms")


def run(args, deadline):
    variants = args.variants
    database = stack.Database(args.db_name)
    print("== PsyWeb hot poll ==")
    print(f"Setting up database {args.db_name} (PostgreSQL on {stack.HOST}) ...")
    machine = stack.machine_info(postgresql=database.create(), redis_server="not used")
    report = {
        "machine": machine,
        "writers": args.writers,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "slots": args.slots,
        "variants": {v: VARIANTS[v] for v in variants},
        "results": {v: {} for v in variants},
    }
    writers = monitor = None
    try:
        env = stack.site_env(database.url, "locmemcache://")
        env["POLL_IP_VOTE_LIMIT"] = "100"  # orm-limit counts, each vote from a new address
        stack.manage(["migrate", "--noinput"], env, deadline)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import DatabaseError, connection, connections

        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            machine["synchronous_commit"] = cursor.fetchone()[0]
        polls = make_polls(variants)
        connections.close_all()  # the writers are forked: none may share a connection
        print(stack.describe_machine(machine))
        print(
            f"{len(variants)} variants x writers {args.writers} x {args.rounds} rounds,"
            f" {args.duration:g} s each; slots: {args.slots}"
        )
        writers = Writers(max(args.writers), args.slots)
        monitor = stack.pg_connect(database.url)
        accepted = Counter()
        # Variants side by side at each number of writers, rounds apart: a change in the
        # machine's load touches the variants compared alike, and shows in the spread.
        for round_ in range(args.rounds):
            for count in args.writers:
                for variant in variants:
                    tag = f"{variant}:{round_}:{count}"
                    result = writers.step(
                        variant, polls[variant], count, args.duration, tag, monitor, deadline
                    )
                    accepted[variant] += result["votes"]
                    report["results"][variant].setdefault(count, []).append(result)
                    w = result["waits"]
                    print(
                        f"  round {round_ + 1} {variant:>13} {count:>2} writers:"
                        f" {result['votes_per_s']:>6.0f} votes/s, p50 {result['p50_ms']} ms,"
                        f" p99 {result['p99_ms']} ms; row lock {w['row lock']},"
                        f" CPU {w['CPU']}, client {w['client']}, WAL {w['WAL']};"
                        f" busy {result['machine_busy_pct']} %",
                        flush=True,
                    )
        writers.stop()
        writers = None
        for variant in variants:
            print_table(variant, report["results"][variant])
        top = max(args.writers)
        summary = {v: median_run(report["results"][v][top])["votes_per_s"] for v in variants}
        report["at_most_writers"] = summary
        print(
            f"\nvotes/s at {top} writers (median): "
            + ", ".join(f"{v} {r:.0f}" for v, r in summary.items())
        )
        report["gains"] = gains(report["results"])
        print_gains(report["gains"])
        report["counter_tables"] = counter_tables(monitor)
        print("\ncounter tables after the run (autovacuum as configured):")
        for name, t in report["counter_tables"].items():
            print(f"  {name}: {t}")
        report["checks"] = exactness(polls, accepted)
        if args.ballots:
            print(f"\nWeighing {args.ballots:,} ballots ...", flush=True)
            try:
                report["weights"] = weigh_ballots(database.url, args.ballots, deadline)
            except (psycopg2.Error, DatabaseError) as error:
                report["checks"].append(check("the ballots were weighed", False, error))
            else:
                print_weights(report["weights"])
    finally:
        if writers is not None:
            writers.stop()
        if monitor is not None:
            monitor.close()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not args.keep_db:
            try:
                database.drop()
            except psycopg2.Error as error:
                print(f"could not drop {args.db_name}: {error}", file=sys.stderr)
    return 0 if stack.finish(report, args.json) else 1


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--writers", default="1,2,4,8,16,32,64", help="writers at once (1,2,…,64)")
    p.add_argument("--duration", type=float, default=5, help="seconds of each step (5)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, interleaved; median (3)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="which, comma-separated")
    p.add_argument("--slots", type=int, default=16, help="sql-slots: slots per answer/day (16)")
    p.add_argument("--ballots", type=int, default=1_000_000, help="to weigh (1000000; 0: no)")
    p.add_argument("--timeout", type=float, default=3600, help="deadline, s (3600)")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.add_argument("--db-name", default="hotpoll", help="database to create and drop (hotpoll)")
    p.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    args = p.parse_args(argv)
    try:
        args.writers = sorted({int(n) for n in args.writers.split(",")})
    except ValueError:
        p.error("--writers is a comma-separated list of numbers")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or not args.variants:
        p.error(f"--variants: unknown {unknown}; known: {', '.join(VARIANTS)}")
    if min(args.writers) < 1 or max(args.writers) > ANSWERS:
        p.error(f"--writers must be 1..{ANSWERS} (PostgreSQL's max_connections is 100 here)")
    if not (0.5 <= args.duration <= 60 and 1 <= args.rounds <= 10 and 1 <= args.slots <= 1024):
        p.error("--duration must be 0.5..60 s, --rounds 1..10, --slots 1..1024")
    if not 0 <= args.ballots <= 20_000_000 or args.timeout <= 0:
        p.error("--ballots must be 0..20000000 and --timeout positive")
    return args


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(stack.main("hot_poll", run, arguments, stack.Deadline(arguments.timeout)))
