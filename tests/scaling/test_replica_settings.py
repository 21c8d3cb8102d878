"""DATABASE_REPLICA_URLS and DATABASE_POOLER, as the settings read them (no server needed)."""

import json

from tests.psyweb.test_settings import run_django

PRIMARY = "postgres://psyweb@127.0.0.1:5432/psyweb"
REPLICAS = "postgres://psyweb@10.0.0.3:5432/psyweb,postgres://psyweb@10.0.0.4:5433/psyweb"

SHOW = (
    "import json\n"
    "print(json.dumps({\n"
    "    'databases': settings.DATABASES,\n"
    "    'replicas': settings.DATABASE_REPLICAS,\n"
    "    'routers': settings.DATABASE_ROUTERS,\n"
    "    'middleware': settings.MIDDLEWARE,\n"
    "}, default=str))\n"
)


def settings_with(**env):
    result = run_django(SHOW, SECRET_KEY="k", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_replicas_there_is_one_database_and_no_router():
    shown = settings_with(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URLS="")

    assert list(shown["databases"]) == ["default"]
    assert shown["replicas"] == {}
    assert shown["routers"] == []
    assert "psyweb.routers.ReadYourWritesMiddleware" not in shown["middleware"]


def test_each_replica_url_becomes_a_database_with_the_primarys_timeouts():
    shown = settings_with(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URLS=REPLICAS)
    databases = shown["databases"]

    assert list(databases) == ["default", "replica_1", "replica_2"]
    assert shown["replicas"] == {"replica_1": "psyweb", "replica_2": "psyweb"}
    assert (databases["replica_1"]["HOST"], databases["replica_1"]["PORT"]) == ("10.0.0.3", 5432)
    assert (databases["replica_2"]["HOST"], databases["replica_2"]["PORT"]) == ("10.0.0.4", 5433)
    for alias in ("replica_1", "replica_2"):
        replica = databases[alias]
        assert replica["OPTIONS"] == databases["default"]["OPTIONS"]
        assert replica["OPTIONS"]["options"] == "-c statement_timeout=5000"
        assert replica["OPTIONS"]["connect_timeout"] == 3
        assert replica["CONN_MAX_AGE"] == 60
        assert replica["CONN_HEALTH_CHECKS"] is True
        # The test runner creates nothing there: the replica reads the primary's test database.
        assert replica["TEST"]["MIRROR"] == "default"


def test_with_replicas_the_router_and_its_middleware_are_installed():
    shown = settings_with(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URLS=REPLICAS)
    middleware = shown["middleware"]

    assert shown["routers"] == ["psyweb.routers.ReplicaRouter"]
    # Right below the outage middleware, so that its process_exception runs first.
    outage = middleware.index("psyweb.middleware.DatabaseOutageMiddleware")
    assert middleware[outage + 1] == "psyweb.routers.ReadYourWritesMiddleware"
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") > outage + 1


def test_behind_pgbouncer_no_session_settings_are_sent_and_server_side_cursors_are_off():
    shown = settings_with(
        DATABASE_URL=PRIMARY, DATABASE_REPLICA_URLS=REPLICAS, DATABASE_POOLER="pgbouncer"
    )

    for database in shown["databases"].values():
        assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
        assert "options" not in database["OPTIONS"]  # PgBouncer refuses it
        assert database["OPTIONS"]["connect_timeout"] == 3  # libpq's own: still applies


def test_an_unknown_pooler_stops_start_up_with_a_clear_message():
    result = run_django("", SECRET_KEY="k", DATABASE_URL=PRIMARY, DATABASE_POOLER="pgpool")
    assert result.returncode != 0
    assert "DATABASE_POOLER is 'pgpool': leave it empty, or set it to pgbouncer." in result.stderr


def test_a_sticky_time_no_longer_than_the_lag_allowed_stops_start_up():
    result = run_django(
        "",
        SECRET_KEY="k",
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URLS=REPLICAS,
        DATABASE_REPLICA_MAX_LAG_SECONDS="4",
        DATABASE_PRIMARY_STICKY_SECONDS="5",
    )
    assert result.returncode != 0
    assert "DATABASE_PRIMARY_STICKY_SECONDS must be longer than" in result.stderr

    allowed = run_django(
        "",
        SECRET_KEY="k",
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URLS=REPLICAS,
        DATABASE_REPLICA_MAX_LAG_SECONDS="3.9",
        DATABASE_PRIMARY_STICKY_SECONDS="5",
    )
    assert allowed.returncode == 0, allowed.stderr


def test_a_replica_that_is_not_postgresql_stops_start_up():
    result = run_django(
        "", SECRET_KEY="k", DATABASE_URL=PRIMARY, DATABASE_REPLICA_URLS="sqlite:////tmp/x.db"
    )
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URLS: replica_1 is not PostgreSQL." in result.stderr
