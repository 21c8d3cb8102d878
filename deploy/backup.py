"""`make backup FILE=…` and `make restore FILE=…`: PostgreSQL's own tools, aimed where the site is.

The database is the one DATABASE_URL names (read as psyweb/settings.py reads it: django-environ,
with a `.env` beside manage.py if present), so the dump is of what the site serves. The URL is
parsed here rather than handed to libpq, because django-environ's dialect (pgsql://, Django-only
query options) is not libpq's; the password goes to pg_dump and pg_restore in PGPASSWORD, never
on a command line that `ps` shows to every user of the machine.

- backup: `pg_dump --format=custom`, one consistent snapshot (a ballot and its count are
  written in one transaction, so the dump holds both or neither). It is written beside FILE
  under a temporary name, readable by its owner only, and renamed to FILE only once complete:
  a failed dump leaves an earlier FILE as it was. The rows of django_session are left out
  (the table is kept): they would let whoever reads the dump act as the staff who were signed
  in; after a restore, staff sign in again.
- restore: `pg_restore` into an empty database, in one transaction that stops at the first
  error, so a failed restore leaves the database empty. Objects belong to the restoring user
  (no owners, no grants from the source). Then ANALYZE, and a word on migrations.

Refused before anything is written, with one line that says why (exit status 2): no FILE,
a database that is not PostgreSQL (SQLite has its own way, said in the message) or that is
reached through PgBouncer (DATABASE_POOLER), a restore into a database that holds tables, a
pg_dump older than the server. A tool that fails midway exits 1. See docs/backups.md.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parent.parent
REFUSED, FAILED = 2, 1

# DATABASES OPTIONS that only Django or psycopg read; libpq would reject them.
DJANGO_ONLY_OPTIONS = {
    "assume_role",
    "context",
    "cursor_factory",
    "isolation_level",
    "pool",
    "prepare_threshold",
    "server_side_binding",
}
# Rows not worth keeping and not safe to hand around: live staff sessions.
EXCLUDED_TABLE_DATA = ["django_session"]


class Refused(Exception):
    """Nothing was done; the message says why, in one line."""


class Failed(Exception):
    """A tool failed midway; it has said why on stderr."""


def database_url():
    """DATABASE_URL as the settings read it: the environment, then .env, then db.sqlite3."""
    dotenv = ROOT / ".env"
    if dotenv.exists():
        environ.Env.read_env(dotenv, overwrite=False)
    return os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'db.sqlite3'}"


def postgres_config(action):
    """Django's DATABASES entry for DATABASE_URL; refuses anything but PostgreSQL."""
    try:
        config = environ.Env.db_url_config(database_url())
    except Exception as error:  # django-environ raises several kinds on a bad URL
        raise Refused(f"DATABASE_URL cannot be read: {error}") from error
    engine = config["ENGINE"]
    if engine.endswith("sqlite3"):
        name = config["NAME"]
        if os.environ.get("DATABASE_URL"):
            what = f"DATABASE_URL names the SQLite file {name}"
        else:
            what = f"DATABASE_URL is not set, so the site uses the SQLite file {name}"
        if action == "restore":
            how = f"to restore a SQLite backup, stop the site and copy the backup over {name}."
        else:
            how = (
                f"back it up with sqlite3 {name} \".backup 'psyweb-backup.sqlite3'\" "
                "(safe while the site runs), or copy the file with the site stopped."
            )
        raise Refused(f"it works on PostgreSQL only, and {what}: {how}")
    if engine.rsplit(".", 1)[-1] not in {"postgresql", "postgis"}:
        raise Refused(f"it works on PostgreSQL only; DATABASE_URL names a {engine} database.")
    if not config.get("NAME"):
        raise Refused("DATABASE_URL names no database (postgres://host:port/NAME).")
    if os.environ.get("DATABASE_POOLER"):
        # pg_dump and pg_restore set up their session with SETs outside their transaction;
        # in transaction pooling those may land on other server connections than their work.
        raise Refused(
            f"DATABASE_POOLER={os.environ['DATABASE_POOLER']} says DATABASE_URL names a "
            "connection pooler, which cannot keep one session together for pg_dump or "
            f"pg_restore: run make {action} with DATABASE_URL naming PostgreSQL itself and "
            "DATABASE_POOLER empty."
        )
    return config


def quote(value):
    """A value for a libpq connection string (keyword='value')."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def connection(config):
    """(connection string without the password, environment with PGPASSWORD) for libpq."""
    params = {"dbname": config["NAME"]}
    for key, name in (("HOST", "host"), ("PORT", "port"), ("USER", "user")):
        if config.get(key) not in (None, ""):
            params[name] = config[key]
    password = config.get("PASSWORD") or ""
    for key, value in config.get("OPTIONS", {}).items():
        if key == "password":
            password = password or value
        elif key == "sslpassword":
            raise Refused(
                "DATABASE_URL carries sslpassword, which libpq takes from no environment "
                "variable, so it would show on a command line: use a key file without a "
                "passphrase, readable by this user only."
            )
        elif key not in DJANGO_ONLY_OPTIONS:
            params[key] = value
    # Give up on a server that does not answer rather than hang a cron job; name ourselves in
    # pg_stat_activity. A value in the URL's query wins.
    params.setdefault("connect_timeout", 10)
    params.setdefault("application_name", "psyweb-backup")
    conninfo = " ".join(f"{key}={quote(value)}" for key, value in params.items())
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return conninfo, env


def describe(config):
    where = config.get("HOST") or "the local socket"
    if config.get("PORT"):
        where = f"{where}:{config['PORT']}"
    return f"the database {config['NAME']} on {where}"


def connect(config):
    import psycopg2

    conninfo, env = connection(config)
    try:
        return psycopg2.connect(conninfo, password=env.get("PGPASSWORD"))
    except psycopg2.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        hint = ""
        if "does not exist" in reason and "database" in reason:
            hint = f" Create it first: createdb {config['NAME']} (with the same host and user)."
        raise Refused(f"cannot connect to {describe(config)}: {reason}.{hint}") from error


def tool(name):
    """The pg_dump or pg_restore to run: $PG_DUMP / $PG_RESTORE, else the one on PATH."""
    path = os.environ.get(name.upper()) or shutil.which(name)
    if not path:
        raise Refused(f"{name} is not installed: apt-get install postgresql-client.")
    return path


def major_version(program):
    done = subprocess.run(  # noqa: S603 - a PostgreSQL client program, fixed arguments
        [program, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    found = re.search(r"\)\s*(\d+)", done.stdout)
    if done.returncode != 0 or not found:
        raise Refused(f"{program} --version did not say its version: {done.stdout}{done.stderr}")
    return int(found.group(1))


def backup(file):
    config = postgres_config("backup")
    target = Path(file).resolve()
    if target.is_dir():
        raise Refused(f"FILE is a folder: {file}. Name a file, for example {file}/psyweb.dump.")
    if not target.parent.is_dir():
        raise Refused(f"the folder {target.parent} does not exist.")
    pg_dump = tool("pg_dump")
    conn = connect(config)
    server = conn.server_version // 10000
    conn.close()
    client = major_version(pg_dump)
    if client < server:
        raise Refused(
            f"pg_dump is version {client} and the server {server}: pg_dump must be as new as the "
            f"server. Install postgresql-client-{server} and set "
            f"PG_DUMP=/usr/lib/postgresql/{server}/bin/pg_dump."
        )
    conninfo, env = connection(config)
    # Owner-only from the start (mkstemp makes it 0600); renamed to FILE once pg_dump succeeds.
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    try:
        command = [
            pg_dump,
            "--format=custom",
            "--no-password",
            f"--file={partial}",
            *(f"--exclude-table-data={table}" for table in EXCLUDED_TABLE_DATA),
            f"--dbname={conninfo}",
        ]
        if subprocess.run(command, env=env, check=False).returncode != 0:  # noqa: S603
            raise Failed(f"pg_dump failed (above); {file} was not written.")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
    finally:
        Path(partial).unlink(missing_ok=True)
    size = target.stat().st_size / 1e6
    print(
        f"make backup: wrote {file} ({size:.1f} MB), one snapshot of {describe(config)}. "
        f"Restore it into an empty database with: make restore FILE={file}"
    )


def relations_in_public(conn):
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
            "ORDER BY c.relname"
        )
        return [name for (name,) in cursor.fetchall()]


def applied_migrations(conn):
    with conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.django_migrations')")
        if cursor.fetchone()[0] is None:
            return set()
        cursor.execute("SELECT app, name FROM django_migrations")
        return set(cursor.fetchall())


def migrations_on_disk():
    """(app, name) of this code's own migrations (articles, polls …), read from the files."""
    return {
        (path.parent.parent.name, path.stem)
        for path in ROOT.glob("*/migrations/[0-9][0-9][0-9][0-9]_*.py")
    }


def migrations_advice(applied):
    ours = migrations_on_disk()
    apps = {app for app, _ in ours}
    missing = sorted(ours - applied)
    unknown = sorted((app, name) for app, name in applied - ours if app in apps)
    if unknown:
        names = ", ".join(f"{app} {name}" for app, name in unknown)
        return (
            f"The dump comes from newer code: it has migrations this code lacks ({names}). "
            "Serve it with the code it came from."
        )
    if missing:
        names = ", ".join(f"{app} {name}" for app, name in missing)
        return (
            f"The dump predates {len(missing)} migration(s) of this code ({names}): run "
            "manage.py migrate with this DATABASE_URL before the site serves from it."
        )
    return (
        "Its migrations match this code's. Code newer than the dump needs manage.py migrate "
        "first (manage.py showmigrations lists what a database lacks)."
    )


def restore(file):
    config = postgres_config("restore")
    source = Path(file)
    if not source.is_file():
        raise Refused(f"there is no file {file} to restore.")
    pg_restore = tool("pg_restore")
    listed = subprocess.run(  # noqa: S603 - reads the archive's table of contents only
        [pg_restore, "--list", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if listed.returncode != 0:
        reason = " ".join(listed.stderr.split())
        raise Refused(f"{file} is not a dump this pg_restore can read ({reason}).")
    conn = connect(config)
    try:
        present = relations_in_public(conn)
    finally:
        conn.close()
    if present:
        shown = ", ".join(present[:3]) + (" …" if len(present) > 3 else "")
        raise Refused(
            f"{describe(config)} is not empty: schema public holds {len(present)} tables, views "
            f"or sequences ({shown}). Restore into a new, empty database (createdb NAME, then "
            "point DATABASE_URL at it)."
        )
    conninfo, env = connection(config)
    command = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--dbname={conninfo}",
        str(source),
    ]
    if subprocess.run(command, env=env, check=False).returncode != 0:  # noqa: S603
        raise Failed(f"pg_restore failed (above); nothing of {file} was restored.")
    conn = connect(config)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("ANALYZE")  # pg_restore brings no planner statistics
        advice = migrations_advice(applied_migrations(conn))
    finally:
        conn.close()
    print(f"make restore: restored {file} into {describe(config)}. {advice}")


def main(argv):
    if len(argv) != 2 or argv[0] not in {"backup", "restore"}:
        print("usage: backup.py backup|restore FILE", file=sys.stderr)
        return REFUSED
    action, file = argv
    try:
        if not file.strip():
            raise Refused(f"FILE is missing: make {action} FILE=psyweb.dump")
        (backup if action == "backup" else restore)(file)
    except Refused as refusal:
        print(f"make {action}: refused: {refusal}", file=sys.stderr)
        return REFUSED
    except Failed as failure:
        print(f"make {action}: {failure}", file=sys.stderr)
        return FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
