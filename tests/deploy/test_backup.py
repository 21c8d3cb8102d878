"""The restore drill: votes, a dump, a restore into a fresh database, and nothing lost.

The real `make backup` and `make restore` run against the PostgreSQL server this pass of the
suite uses, on databases of their own (named backups_drill_…) that are dropped at the end
whatever happens. Content is made and read back by manage.py in subprocesses, each pointed at
one database by DATABASE_URL, as an operator would do it. Every table is compared row for row
between the source and the restored database, so a table added later is checked too.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from urllib.parse import quote

import psycopg2
import pytest
from django.conf import settings
from psycopg2 import sql

from .conftest import ROOT

pytestmark = pytest.mark.postgresql

PREFIX = f"backups_drill_{os.getpid()}_{secrets.token_hex(3)}"
VOTERS = 30  # in a poll with one answer per ballot
CHECKERS = 10  # in a "check all that apply" poll, two answers each
# Left out of every dump on purpose (deploy/backup.py): live staff sessions.
NOT_DUMPED = {"django_session"}


def server():
    """Host, port, user and password of the PostgreSQL server the suite runs on."""
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        # Where CREATE DATABASE is sent from, as Django does for its test database.
        "maintenance": "postgres",
    }


def database_url(name, *, password=None):
    s = server()
    password = s["password"] if password is None else password
    auth = quote(s["user"], safe="")
    if password:
        auth += ":" + quote(password, safe="")
    return f"postgres://{auth}@{s['host']}:{s['port']}/{name}"


def connect(name):
    s = server()
    return psycopg2.connect(
        dbname=name,
        host=s["host"],
        port=s["port"],
        user=s["user"] or None,
        password=s["password"] or None,
        connect_timeout=5,
    )


def environment(**extra):
    """What the subprocesses get: this database, a private cache, no outer make's flags."""
    drop = {
        "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PG_DUMP", "PG_RESTORE", "PGPASSWORD",
        "DATABASE_POOLER", "DATABASE_REPLICA_URLS",
    }  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(CACHE_URL="locmemcache://", SECRET_KEY="drill-only-not-a-secret", DEBUG="False")
    env.update(extra)
    return env


def run(command, database=None, *, timeout=180, **extra):
    """Run `command` in a session of its own; past `timeout`, kill all of it and fail."""
    env = environment(**extra)
    if database is not None:
        env["DATABASE_URL"] = database_url(database)
    process = subprocess.Popen(  # noqa: S603 - fixed commands: make, or our python and manage.py
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that make's children (pg_dump …) go with it
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command)} took over {timeout} s:\n{stdout}{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def make(target, database=None, *, file=None, **extra):
    """`make target FILE=file`, as a person types it, with DATABASE_URL naming `database`."""
    command = ["make", "--no-print-directory", target]
    if file is not None:
        command.append(f"FILE={file}")
    return run(command, database, **extra)


def manage(database, *args, timeout=180):
    done = run([sys.executable, "manage.py", *args], database, timeout=timeout)
    assert done.returncode == 0, f"manage.py {args[0]}: {done.stdout}{done.stderr}"
    return done.stdout


def django_script(database, code):
    """Run `code` in manage.py shell against `database`; it prints JSON as its last line."""
    out = manage(database, "shell", "--no-imports", "-c", textwrap.dedent(code))
    return json.loads(out.strip().splitlines()[-1])


SEED = """
import json

from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from articles.models import Article
from polls.models import Poll
from polls.services import record_vote

editor = get_user_model().objects.create_user("drill-editor", password="drill-only")
now = timezone.now()
for n in (1, 2):
    article = Article(
        title=f"Drill article {n}", slug=f"drill-article-{n}", summary=f"Summary {n}.",
        body=f"Body of **article {n}**.", status=Article.Status.PUBLISHED, published_at=now,
    )
    article._history_user = editor
    article.save()
article = Article.objects.get(slug="drill-article-1")
for title in ("Drill article 1, edited", "Drill article 1, edited again"):
    article.title = title
    article.body += " More."
    article._history_user = editor
    article.save()

poll = Poll.objects.create(question="Drill question?", slug="drill-poll", opens_at=now)
choices = [poll.choices.create(text=text, order=n) for n, text in enumerate("ABC", start=1)]
for n in range(VOTERS):
    choice = choices[n % 3 if n % 4 else 0]
    record_vote(poll=poll, choice_ids=[choice.pk], voter_key=f"drill-voter-{n}")

several = Poll.objects.create(
    question="Which apply?", slug="drill-several", opens_at=now, max_choices=2
)
options = [several.choices.create(text=text, order=n) for n, text in enumerate("XYZ", start=1)]
for n in range(CHECKERS):
    chosen = [options[n % 3].pk, options[(n + 1) % 3].pk]
    record_vote(poll=several, choice_ids=chosen, voter_key=f"drill-checker-{n}")

session = SessionStore()
session["drill"] = "a signed-in editor"
session.create()
print(json.dumps({"session": session.session_key}))
""".replace("VOTERS", str(VOTERS)).replace("CHECKERS", str(CHECKERS))

# What the site makes of a database: counts against ballots, and every article's history.
READ_BACK = """
import json

from django.contrib.sessions.models import Session

from articles.models import Article
from polls.models import Choice, Vote
from polls.services import recount

history = {
    article.slug: [
        [h.history_type, h.title, h.body, h.history_user.username if h.history_user else None,
         h.history_date.isoformat()]
        for h in article.history.order_by("history_id")
    ]
    for article in Article.objects.order_by("slug")
}
print(json.dumps({
    "drift": [[str(choice), counted, rows] for choice, counted, rows in recount(repair=False)],
    "ballots": Vote.objects.count(),
    "counted": sorted(Choice.objects.with_votes().values_list("poll__slug", "text", "votes")),
    "history": history,
    "sessions": Session.objects.count(),
}))
"""


def table_contents(database):
    """({table: (rows, md5 of the rows as text, in order)}, {sequence: last value}) of public."""
    with connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        contents = {}
        for (table,) in sorted(cursor.fetchall()):
            cursor.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text),"
                    " '')) FROM public.{} t"
                ).format(sql.Identifier(table))
            )
            contents[table] = cursor.fetchone()
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        )
        sequences = dict(cursor.fetchall())
    conn.close()
    return contents, sequences


def server_major():
    with connect(server()["maintenance"]) as conn:
        major = conn.server_version // 10000
    conn.close()
    return major


class Databases:
    """Databases made for the drill; every one is dropped at the end, even after a failure."""

    def __init__(self):
        self.names = []

    def create(self, role):
        name = f"{PREFIX}_{role}"
        self.names.append(name)
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_all(self):
        for name in reversed(self.names):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement):
        conn = connect(server()["maintenance"])
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def databases():
    for program in ("pg_dump", "pg_restore", "make"):
        if shutil.which(program) is None:
            message = f"{program} is not installed (apt-get install postgresql-client make)"
            if os.environ.get("REQUIRE_POSTGRES"):
                pytest.fail(f"{message}, and REQUIRE_POSTGRES is set")
            pytest.skip(message)
    made = Databases()
    try:
        yield made
    finally:
        made.drop_all()


@pytest.fixture(scope="module")
def drill(databases, tmp_path_factory):
    """Votes and revisions in a fresh database, `make backup`, `make restore` into another."""
    folder = tmp_path_factory.mktemp("drill")
    dump = folder / "psyweb.dump"
    source = databases.create("source")
    manage(source, "migrate", "--noinput", "-v", "0", timeout=300)
    seeded = django_script(source, SEED)
    backup = make("backup", source, file=str(dump))
    assert backup.returncode == 0, backup.stdout + backup.stderr
    restored = databases.create("restored")
    restore = make("restore", restored, file=str(dump))
    assert restore.returncode == 0, restore.stdout + restore.stderr
    # Both read back now, before any test writes to either.
    return {
        "dump": dump,
        "source": source,
        "restored": restored,
        "session": seeded["session"],
        "backup": backup,
        "restore": restore,
        "tables": (table_contents(source), table_contents(restored)),
        "read": (django_script(source, READ_BACK), django_script(restored, READ_BACK)),
    }


def test_the_restored_database_holds_every_row_of_every_table(drill):
    (source_tables, source_sequences), (restored_tables, restored_sequences) = drill["tables"]
    assert set(restored_tables) == set(source_tables)
    assert {"polls_vote", "polls_choice", "articles_historicalarticle"} <= set(source_tables)
    for table in sorted(set(source_tables) - NOT_DUMPED):
        assert restored_tables[table] == source_tables[table], f"{table} differs"
    # The sequences go on where they stopped, so the next article gets a new id.
    assert restored_sequences == source_sequences


def test_counts_equal_ballots_after_the_restore(drill):
    source, restored = drill["read"]
    assert restored["drift"] == []
    assert restored["ballots"] == source["ballots"] == VOTERS + CHECKERS
    assert restored["counted"] == source["counted"]
    answers = {}
    for slug, _, votes in restored["counted"]:
        answers[slug] = answers.get(slug, 0) + votes
    assert answers == {"drill-poll": VOTERS, "drill-several": 2 * CHECKERS}


def test_articles_keep_every_version_with_its_editor_and_date(drill):
    source, restored = drill["read"]
    assert restored["history"] == source["history"]
    versions = restored["history"]["drill-article-1"]
    assert [v[0] for v in versions] == ["+", "~", "~"]
    assert versions[-1][1] == "Drill article 1, edited again"
    assert {v[3] for v in versions} == {"drill-editor"}


AFTER_RESTORE = """
import json

from django.utils import timezone

from articles.models import Article
from polls.models import Poll
from polls.services import AlreadyVoted, recount, record_vote

Article.objects.create(
    title="After the restore", slug="after-the-restore", summary="s", body="b",
    status=Article.Status.PUBLISHED, published_at=timezone.now(),
)
poll = Poll.objects.get(slug="drill-poll")
choice = poll.choices.get(text="B")
record_vote(poll=poll, choice_ids=[choice.pk], voter_key="after-the-restore")
try:
    record_vote(poll=poll, choice_ids=[choice.pk], voter_key="drill-voter-1")
    second = "counted"
except AlreadyVoted:
    second = "refused"
print(json.dumps({
    "articles": Article.objects.count(),
    "votes": poll.choices.with_votes().get(text="B").votes,
    "second_ballot": second,
    "drift": len(recount(repair=False)),
}))
"""


def test_the_restored_database_is_migrated_and_takes_new_writes(drill):
    assert "migrations match this code" in drill["restore"].stdout
    manage(drill["restored"], "migrate", "--check", "--noinput")
    before = {(slug, text): votes for slug, text, votes in drill["read"][1]["counted"]}
    before = before["drill-poll", "B"]
    after = django_script(drill["restored"], AFTER_RESTORE)
    # New ids from the restored sequences, the count moved by one, and the database still
    # refuses a second ballot from a voter of the dump (its unique constraint came back).
    assert after == {"articles": 3, "votes": before + 1, "second_ballot": "refused", "drift": 0}


def test_live_staff_sessions_stay_out_of_the_dump(drill):
    source, restored = drill["read"]
    assert source["sessions"] == 1
    assert restored["sessions"] == 0
    listed = subprocess.run(  # noqa: S603 - pg_restore reading our own dump
        [
            shutil.which("pg_restore"),
            "--data-only",
            "--table=django_session",
            "--file=-",
            drill["dump"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert drill["session"] not in listed.stdout


def test_the_dump_is_readable_by_its_owner_only_and_nothing_else_is_left(drill):
    assert stat.S_IMODE(drill["dump"].stat().st_mode) == 0o600
    assert [p.name for p in drill["dump"].parent.iterdir()] == ["psyweb.dump"]
    assert f"wrote {drill['dump']}" in drill["backup"].stdout


def test_restore_refuses_a_database_with_a_table_and_leaves_it_as_it_was(drill, databases):
    leftover = databases.create("leftover")
    with connect(leftover) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE leftover (id integer)")
    conn.close()
    before = table_contents(leftover)
    refused = make("restore", leftover, file=str(drill["dump"]))
    assert refused.returncode != 0
    assert "is not empty" in refused.stderr
    assert "leftover" in refused.stderr
    assert table_contents(leftover) == before

    # The full database the dump came from is refused just the same.
    again = make("restore", drill["source"], file=str(drill["dump"]))
    assert again.returncode != 0
    assert "is not empty" in again.stderr


@pytest.mark.parametrize("target", ["backup", "restore"])
def test_both_refuse_without_a_file(drill, target):
    refused = make(target, drill["source"])
    assert refused.returncode != 0
    assert f"FILE is missing: make {target} FILE=psyweb.dump" in refused.stderr


def test_restore_refuses_a_file_that_is_missing_or_not_a_dump(drill, databases, tmp_path):
    empty = databases.create("empty")
    missing = make("restore", empty, file=str(tmp_path / "no-such.dump"))
    assert missing.returncode != 0
    assert "there is no file" in missing.stderr
    text = tmp_path / "notes.txt"
    text.write_text("not a dump\n")
    unreadable = make("restore", empty, file=str(text))
    assert unreadable.returncode != 0
    assert "is not a dump this pg_restore can read" in unreadable.stderr
    assert table_contents(empty) == ({}, {})


@pytest.mark.parametrize("target", ["backup", "restore"])
def test_both_refuse_sqlite_and_say_what_to_do_instead(tmp_path, target):
    sqlite = tmp_path / "db.sqlite3"
    dump = tmp_path / "psyweb.dump"
    if target == "restore":
        dump.write_bytes(b"")
    refused = make(target, file=str(dump), DATABASE_URL=f"sqlite:///{sqlite}")
    assert refused.returncode != 0
    assert "PostgreSQL only" in refused.stderr
    expected = ".backup" if target == "backup" else "copy the backup over"
    assert expected in refused.stderr
    assert str(sqlite) in refused.stderr
    assert not sqlite.exists()
    assert len(refused.stderr.splitlines()) == 2  # our line, then make's "Error 2"


def test_both_refuse_a_database_reached_through_pgbouncer(drill, tmp_path):
    # Only the URL's meaning changes; nothing needs to listen, since nothing connects.
    fresh = tmp_path / "psyweb.dump"
    for target, file in (("backup", fresh), ("restore", drill["dump"])):
        refused = make(target, drill["source"], file=str(file), DATABASE_POOLER="pgbouncer")
        assert refused.returncode != 0
        assert "DATABASE_URL naming PostgreSQL itself" in refused.stderr
    assert not fresh.exists()


def stub_pg_dump(tmp_path, version):
    """A pg_dump that claims `version`, and on a real call records what it got and fails.

    Only version 15 of PostgreSQL's client is installed here, so an older one is stood in for.
    """
    stub = tmp_path / "pg_dump"
    stub.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) {version}.0"; exit 0; fi\n'
        f'printf "%s\\n" "$@" > "{tmp_path}/argv"\n'
        f'printf "%s" "${{PGPASSWORD-}}" > "{tmp_path}/password"\n'
        "exit 1\n"
    )
    stub.chmod(0o755)
    return stub


def test_backup_refuses_a_pg_dump_older_than_the_server(drill, tmp_path):
    major = server_major()
    stub = stub_pg_dump(tmp_path, major - 1)
    dump = tmp_path / "psyweb.dump"
    refused = make("backup", drill["source"], file=str(dump), PG_DUMP=str(stub))
    assert refused.returncode != 0
    assert f"pg_dump is version {major - 1} and the server {major}" in refused.stderr
    assert not (tmp_path / "argv").exists()  # never asked to dump
    assert not dump.exists()


def test_the_password_reaches_pg_dump_in_its_environment_never_its_arguments(drill, tmp_path):
    # The suite's own password if its server wants one; else (trust, as on 127.0.0.1 here)
    # any password is accepted, and a made-up one is carried.
    secret = server()["password"] or f"drill-{secrets.token_hex(8)}"
    stub = stub_pg_dump(tmp_path, server_major())
    dump = tmp_path / "psyweb.dump"
    dump.write_bytes(b"yesterday's dump")
    done = make(
        "backup",
        file=str(dump),
        PG_DUMP=str(stub),
        DATABASE_URL=database_url(drill["source"], password=secret),
    )
    assert (tmp_path / "password").read_text() == secret
    argv = (tmp_path / "argv").read_text()
    assert "--format=custom" in argv
    assert drill["source"] in argv
    assert secret not in argv
    assert secret not in done.stdout + done.stderr
    # The stub failed the dump: the earlier file is untouched and no partial file is left.
    assert done.returncode != 0
    assert "pg_dump failed" in done.stderr
    assert dump.read_bytes() == b"yesterday's dump"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "argv",
        "password",
        "pg_dump",
        "psyweb.dump",
    ]
