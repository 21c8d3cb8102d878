"""PostgreSQL clusters and a PgBouncer of the tests' own, on their own ports, on 127.0.0.1.

`ReplicatedDatabase` makes a primary cluster with Debian's `pg_createcluster`, creates the
site's role and database in it and migrates them, then makes a second cluster from it with
`pg_basebackup -R` and starts it as a streaming replica. `PgBouncer` runs Debian's pgbouncer
in transaction mode in front of both. The machine's own clusters (main, on 5432) are never
touched. Both need root (clusters belong to the user postgres, and pgbouncer runs as it); the
fixtures in conftest.py skip without it, or fail when REQUIRE_REPLICA=1 (CI sets it).

Everything is bounded in time, and `stop()` drops the clusters and stops PgBouncer whatever
happened; a cluster left by a test run that was killed is dropped by the next run.
"""

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest

from tests.psyweb.test_settings import run_django

HOST = "127.0.0.1"
ROLE = "psyweb"  # the site's role: LOGIN and nothing more, as in production
DATABASE = "psyweb"
NAME_PREFIX = "psyweb_test_"  # pg_createcluster names: psyweb_test_<pid>_<n>_primary
FIRST_PORT = 5440
COMMAND_SECONDS = 60  # the longest any one pg_* command may take

# Settings of the test clusters. pg_stat_statements counts the statements each server runs,
# which is how the tests see where reads went. fsync off: these clusters are thrown away.
CLUSTER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "all",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "32MB",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "hot_standby": "on",
    # Replay paused by a test must never cancel the replica's own queries.
    "max_standby_streaming_delay": "-1",
    "log_min_messages": "warning",
}


def missing_requirement():
    """Why these clusters cannot be made on this machine, or None if they can."""
    if os.geteuid() != 0:
        return "needs root: pg_createcluster makes clusters owned by the user postgres"
    if shutil.which("pg_createcluster") is None or not postgresql_versions():
        return "needs Debian's PostgreSQL server (apt-get install postgresql)"
    return None


def unavailable(reason):
    """Skip with `reason`; fail instead when REQUIRE_REPLICA is set (CI)."""
    if os.environ.get("REQUIRE_REPLICA"):
        pytest.fail(f"{reason}, and REQUIRE_REPLICA is set", pytrace=False)
    pytest.skip(f"{reason}; set REQUIRE_REPLICA=1 to fail instead of skipping")


def postgresql_versions():
    found = glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup")
    return sorted((Path(path).parts[4] for path in found), key=float)


def run(*command, timeout=COMMAND_SECONDS):
    """Run a command to completion; its output is shown when it fails."""
    result = subprocess.run(  # noqa: S603 - fixed commands of the PostgreSQL packages
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def existing_clusters():
    """{(version, name): port} of every cluster on this machine."""
    clusters = {}
    for line in run("pg_lsclusters", "--no-header").splitlines():
        version, name, port, *_ = line.split()
        clusters[(version, name)] = int(port)
    return clusters


def port_is_free(port, taken):
    if port in taken:
        return False
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count, start=FIRST_PORT):
    """`count` ports from `start` on that nothing listens on and no cluster is configured for."""
    taken = set(existing_clusters().values())
    ports = []
    port = start
    while len(ports) < count:
        if port_is_free(port, taken):
            ports.append(port)
        port += 1
    return ports


def drop_clusters_of_dead_runs():
    """Drop the test clusters whose run (the pid in their name) no longer exists."""
    for (version, name), _ in existing_clusters().items():
        match = re.fullmatch(rf"{NAME_PREFIX}(\d+)_\d+_\w+", name)
        if match and not Path(f"/proc/{match[1]}").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                run("pg_dropcluster", "--stop", version, name)


def connect(port, dbname=DATABASE, user="postgres", **options):
    connection = psycopg2.connect(
        host=HOST, port=port, dbname=dbname, user=user, connect_timeout=5, **options
    )
    connection.autocommit = True
    return connection


class Cluster:
    """One cluster made by pg_createcluster: owned by postgres, trusted on 127.0.0.1."""

    def __init__(self, version, name, port):
        self.version, self.name, self.port = version, name, port
        self.config_dir = Path(f"/etc/postgresql/{version}/{name}")
        self.data_dir = Path(f"/var/lib/postgresql/{version}/{name}")
        self.created = False

    def create(self):
        run(
            "pg_createcluster", self.version, self.name, "-p", str(self.port),
            "--start-conf=manual", "--", "--auth-local=trust", "--auth-host=trust",
        )  # fmt: skip
        self.created = True
        settings = "".join(f"{key} = {value}\n" for key, value in CLUSTER_SETTINGS.items())
        (self.config_dir / "conf.d" / "psyweb-tests.conf").write_text(settings)

    def ctl(self, action, *options):
        # The PostgreSQL packages' own way; no systemd here, or not for these clusters.
        run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *options)

    def start(self):
        self.ctl("start")

    def stop(self):
        self.ctl("stop", "-m", "fast")

    def drop(self):
        if self.created:
            run("pg_dropcluster", "--stop", self.version, self.name)
            # pg_dropcluster leaves an empty conf.d behind: nothing of the test may stay.
            shutil.rmtree(self.config_dir, ignore_errors=True)
            self.created = False

    def sql(self, query, params=None, dbname=DATABASE):
        """Run one statement as postgres; its rows, if it returns any."""
        connection = connect(self.port, dbname, options="-c statement_timeout=30s")
        with contextlib.closing(connection) as db, db.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def value(self, query, params=None, dbname=DATABASE):
        return self.sql(query, params, dbname)[0][0]

    def url(self, dbname=DATABASE, user=ROLE):
        return f"postgres://{user}@{HOST}:{self.port}/{dbname}"

    def statement_calls(self, like):
        """How many times this server has run statements whose text is LIKE `like`."""
        return self.value(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s", [like]
        )


class ReplicatedDatabase:
    """A primary with the site's migrated database, and a streaming replica of it."""

    def __init__(self):
        version = postgresql_versions()[-1]
        tag = f"{NAME_PREFIX}{os.getpid()}_{int(time.time() * 1000) % 10**6}"
        primary_port, replica_port = free_ports(2)
        self.primary = Cluster(version, f"{tag}_primary", primary_port)
        self.replica = Cluster(version, f"{tag}_replica", replica_port)

    def start(self):
        drop_clusters_of_dead_runs()
        self.primary.create()
        self.primary.start()
        self.create_site_database()
        self.replica.create()
        self.replicate()
        self.replica.start()
        self.wait_until_streaming()
        return self

    def stop(self):
        """Drop both clusters; whatever fails, try the other one too."""
        errors = []
        for cluster in (self.replica, self.primary):
            try:
                cluster.drop()
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def create_site_database(self):
        """The site's role and database, set as docs/deployment.md says, and migrated."""
        primary = self.primary
        primary.sql(f"CREATE ROLE {ROLE} LOGIN", dbname="postgres")
        primary.sql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}", dbname="postgres")
        # Through PgBouncer the site sends no session settings: the server keeps them.
        primary.sql(f"ALTER ROLE {ROLE} SET statement_timeout = '5s'", dbname="postgres")
        primary.sql(f"ALTER ROLE {ROLE} SET timezone = 'UTC'", dbname="postgres")
        primary.sql("CREATE EXTENSION pg_stat_statements")
        result = run_django(
            "from django.core.management import call_command\n"
            "call_command('migrate', verbosity=0)\n",
            **self.site_env(replicas=False),
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{result.stderr}")

    def replicate(self):
        """Replace the replica's data with a base backup of the primary, set to follow it."""
        data = self.replica.data_dir
        for entry in data.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        run(
            "runuser", "-u", "postgres", "--", "pg_basebackup", "-h", HOST,
            "-p", str(self.primary.port), "-U", "postgres", "-D", str(data),
            "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip

    def wait_until_streaming(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg2.Error):
                if self.replica.value("SELECT count(*) FROM pg_stat_wal_receiver"):
                    return self.wait_for_replay(deadline - time.monotonic())
            time.sleep(0.1)
        raise TimeoutError(f"the replica did not start streaming within {timeout} s")

    def wait_for_replay(self, timeout=10):
        """Wait until the replica has replayed everything the primary has written so far."""
        # The insert position: with synchronous_commit off, the last commit may not be written yet.
        target = self.primary.value("SELECT pg_current_wal_insert_lsn()::text")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replica.value(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target], dbname="postgres"
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the replica did not catch up within {timeout} s")

    @contextlib.contextmanager
    def replay_paused(self):
        """The replica keeps receiving the primary's changes, but applies none of them."""
        self.replica.sql("SELECT pg_wal_replay_pause()", dbname="postgres")
        try:
            yield
        finally:
            self.replica.sql("SELECT pg_wal_replay_resume()", dbname="postgres")
            self.wait_for_replay()

    @contextlib.contextmanager
    def replica_stopped(self):
        self.replica.stop()
        try:
            yield
        finally:
            self.replica.start()
            self.wait_until_streaming()

    def site_env(self, *, replicas=True, **env):
        """The environment that points the site at these clusters."""
        return {
            "SECRET_KEY": "replica-tests-only-not-a-secret",
            "DATABASE_URL": self.primary.url(),
            "DATABASE_REPLICA_URLS": self.replica.url() if replicas else "",
            "DATABASE_POOLER": "",
            **env,
        }


class PgBouncer:
    """PgBouncer in transaction mode, with its own ini, on its own port; runs as postgres.

    `databases` maps the names clients ask for to (port, database) on 127.0.0.1.
    """

    def __init__(self, databases, pool_size=5):
        self.port = free_ports(1, start=FIRST_PORT + 100)[0]
        self.folder = Path(tempfile.mkdtemp(prefix="psyweb-pgbouncer-"))
        self.databases = databases
        self.pool_size = pool_size
        self.process = None

    def write_config(self):
        entries = "".join(
            f"{name} = host={HOST} port={port} dbname={dbname}\n"
            for name, (port, dbname) in self.databases.items()
        )
        (self.folder / "pgbouncer.ini").write_text(
            f"[databases]\n{entries}\n"
            "[pgbouncer]\n"
            f"listen_addr = {HOST}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\n"
            # Trust, as the test clusters do; production uses scram-sha-256 (docs/deployment.md).
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'users.txt'}\n"
            "admin_users = postgres\n"
            # Nothing ignored: a client that sends session settings is refused, as by default.
            "ignore_startup_parameters =\n"
            # As docs/deployment.md advises: a client waiting for a server that is down (or a
            # pool that is full) gets an error within the site's own wait limit, not 120 s; a
            # server that is back is tried again within 5 s, not 15.
            "query_wait_timeout = 5\n"
            "server_login_retry = 5\n"
            f"pidfile = {self.folder / 'pgbouncer.pid'}\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
        )
        (self.folder / "users.txt").write_text(f'"{ROLE}" ""\n"postgres" ""\n')
        shutil.chown(self.folder, "postgres")
        for path in self.folder.iterdir():
            shutil.chown(path, "postgres")

    def start(self, timeout=20):
        self.write_config()
        self.log_path = self.folder / "pgbouncer.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - Debian's pgbouncer, our own ini
                [find_pgbouncer(), "-u", "postgres", str(self.folder / "pgbouncer.ini")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited:\n{self.log()}")
            with contextlib.suppress(psycopg2.Error):
                self.show("VERSION")
                return self
            time.sleep(0.1)
        raise TimeoutError(f"pgbouncer did not answer within {timeout} s:\n{self.log()}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # immediate shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def show(self, what):
        """A SHOW command of PgBouncer's admin console, as a list of dicts."""
        console = contextlib.closing(connect(self.port, dbname="pgbouncer"))
        with console as connection, connection.cursor() as cursor:
            cursor.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def transactions(self, database):
        """How many transactions PgBouncer has passed to `database` so far."""
        stats = {row["database"]: row for row in self.show("STATS")}
        return stats[database]["total_xact_count"] if database in stats else 0

    def url(self, dbname, user=ROLE):
        return f"postgres://{user}@{HOST}:{self.port}/{dbname}"


def find_pgbouncer():
    return shutil.which(
        "pgbouncer", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    )
