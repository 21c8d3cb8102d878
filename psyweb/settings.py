"""
PsyWeb settings: one file for every environment, read from the environment.

Every variable is documented in `.env.example`. A `.env` file beside manage.py is read
when present; real environment variables win over it.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# A secret key is required outside DEBUG. In DEBUG (make run, local work) a fixed,
# clearly insecure key keeps sessions and signed cookies stable across restarts.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            'string (for example the output of `python -c "import secrets; '
            'print(secrets.token_urlsafe(50))"`), or set DEBUG=True for local development.'
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "psyweb.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sitemaps",
    "csp",
    "axes",
    "simple_history",
    "imagekit",
    "psyweb",
    "articles",
    "polls",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Answers anonymous readers from the cache before anything below runs (psyweb/pagecache.py).
    "psyweb.pagecache.SharedPageCacheMiddleware",
    # Above CommonMiddleware, so that even the 400 for a bad Host carries these headers.
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "psyweb.middleware.MethodNotAllowedPageMiddleware",
    "psyweb.middleware.ReaderErrorPagesInDebugMiddleware",
    "psyweb.middleware.DatabaseOutageMiddleware",
    "psyweb.middleware.UnreadableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Below authentication: names the signed-in editor on each version simple-history records
    # (answers saved inline in a poll's form too). Readers' requests record nothing.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last: turns a login refused by django-axes into the lockout page (see "Admin login").
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "psyweb.urls"
WSGI_APPLICATION = "psyweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Databases: a SQLite file in the project folder unless DATABASE_URL names another.
# An empty variable counts as unset, so `DATABASE_URL=` in .env means the default.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    ),
}
# PostgreSQL read replicas, comma-separated URLs; empty by default. Each becomes a database
# alias, replica_1, replica_2 …, with the primary's settings below. psyweb.routers sends a
# request's reads to one that answers and is at most DATABASE_REPLICA_MAX_LAG_SECONDS behind,
# and everything else to the primary (docs/deployment.md, "Read replicas").
for number, url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    # Under the test runner a replica reads the primary's test database (Django's MIRROR):
    # nothing is created on it, and the suite runs unchanged.
    DATABASES[f"replica_{number}"] = {**env.db_url_config(url), "TEST": {"MIRROR": "default"}}
# Each replica's alias, and the database it names. (The test runner points a MIRROR at the
# primary's test database instead; psyweb/replicas.py then reads from the primary itself.)
DATABASE_REPLICAS = {alias: db["NAME"] for alias, db in DATABASES.items() if alias != "default"}
# PgBouncer in transaction mode between the site and PostgreSQL: DATABASE_POOLER=pgbouncer.
# Each transaction may then run on a different server connection, so nothing may outlive one:
# no server-side cursors (QuerySet.iterator()), and no session settings sent at connection
# time, which PgBouncer refuses ("unsupported startup parameter: options"). The statement
# timeout is then the server's, set once per role: ALTER ROLE … SET statement_timeout = '5s'.
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER is {DATABASE_POOLER!r}: leave it empty, or set it to pgbouncer."
    )
# PostgreSQL: the server cancels a statement that runs longer than this (0: never). A long
# `manage.py migrate` may need DATABASE_STATEMENT_TIMEOUT=0.
DATABASE_STATEMENT_TIMEOUT = env.float("DATABASE_STATEMENT_TIMEOUT", default=5)
# PostgreSQL: the longest the site waits for any answer, counted on its own side, for a server
# that hangs and so keeps no timeout of its own (psyweb/db.py). A little longer than a
# statement may run, so that the server's own timeout speaks first. 0: no limit.
DATABASE_WAIT_TIMEOUT = env.float(
    "DATABASE_WAIT_TIMEOUT",
    default=DATABASE_STATEMENT_TIMEOUT + 2 if DATABASE_STATEMENT_TIMEOUT else 0,
)
for alias, database in DATABASES.items():
    # Connections are kept between requests (and checked before reuse), so a page that misses
    # the cache does not pay for a new connection.
    database.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.postgresql":
        # A database that does not answer must cost a request a few seconds and a 503 page
        # (psyweb.middleware.DatabaseOutageMiddleware), not hold a worker until gunicorn kills
        # it. Values in the URL's query (?connect_timeout=5) win over these.
        pg_options = database.setdefault("OPTIONS", {})
        # Connecting, up to the server's first answer. libpq waits at least 2 s; 0 waits forever.
        pg_options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3))
        statement_ms = round(DATABASE_STATEMENT_TIMEOUT * 1000)
        if DATABASE_POOLER:
            database["DISABLE_SERVER_SIDE_CURSORS"] = True
        elif "statement_timeout" not in pg_options.get("options", ""):
            pg_options["options"] = (
                f"{pg_options.get('options', '')} -c statement_timeout={statement_ms}".strip()
            )
        # When the network drops packets or the server's machine vanishes, a connection already
        # open would wait forever: give up on data unacknowledged for 10 s, and probe idle
        # connections kept between requests (CONN_MAX_AGE).
        pg_options.setdefault("tcp_user_timeout", 10_000)
        pg_options.setdefault("keepalives", 1)
        pg_options.setdefault("keepalives_idle", 30)
        pg_options.setdefault("keepalives_interval", 10)
        pg_options.setdefault("keepalives_count", 3)
    elif alias != "default":
        raise ImproperlyConfigured(
            f"DATABASE_REPLICA_URLS: {alias} is not PostgreSQL. Replicas are PostgreSQL "
            "streaming replicas of the primary that DATABASE_URL names."
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Let simultaneous writers (votes arriving together under `make run`) wait their turn
    # instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE",
        timeout=20,
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
# Replicas: a replica further behind the primary than this (seconds) is skipped, and its
# reads go to the primary. Each app server process checks each replica's lag at most once per
# DATABASE_REPLICA_CHECK_SECONDS, and after a replica fails to answer, leaves it alone for
# DATABASE_REPLICA_RETRY_SECONDS (psyweb/replicas.py).
DATABASE_REPLICA_MAX_LAG_SECONDS = env.float("DATABASE_REPLICA_MAX_LAG_SECONDS", default=2)
DATABASE_REPLICA_CHECK_SECONDS = 1
DATABASE_REPLICA_RETRY_SECONDS = 5
# Read-your-writes: a visitor whose request wrote to the database (a vote, an admin save, a
# sign-in) reads from the primary for this long (a cookie, psyweb.routers). Longer than any
# lag a replica in use can have, so they never see the site without their own write.
DATABASE_PRIMARY_STICKY_SECONDS = env.float("DATABASE_PRIMARY_STICKY_SECONDS", default=5)
if DATABASE_REPLICAS:
    if DATABASE_PRIMARY_STICKY_SECONDS <= (
        DATABASE_REPLICA_MAX_LAG_SECONDS + DATABASE_REPLICA_CHECK_SECONDS
    ):
        raise ImproperlyConfigured(
            "DATABASE_PRIMARY_STICKY_SECONDS must be longer than "
            "DATABASE_REPLICA_MAX_LAG_SECONDS + 1 s (how old a replica's lag check may be), "
            "or a visitor could read a replica that does not have their vote yet."
        )
    DATABASE_ROUTERS = ["psyweb.routers.ReplicaRouter"]
    # Below the outage middleware, whose process_exception then runs after this one's (which
    # marks a replica whose query failed, to be checked again).
    MIDDLEWARE.insert(
        MIDDLEWARE.index("psyweb.middleware.DatabaseOutageMiddleware") + 1,
        "psyweb.routers.ReadYourWritesMiddleware",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache is shared by every worker process: by default a folder on this machine,
# in production Redis (CACHE_URL=redis://127.0.0.1:6379/0).
CACHES = {
    "default": env.cache_url_config(
        env.str("CACHE_URL", default="") or f"filecache://{BASE_DIR / '.cache' / 'django'}"
    ),
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A cache that hangs must not hang the site: give up after a second and go on without it.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=1, socket_timeout=1, retry_on_timeout=False
    )
# How long a shared page (psyweb/pagecache.py) is served from the cache before it is rendered
# again: the longest an edit or a vote takes to show (plus up to 1 s in nginx's cache).
PAGE_CACHE_SECONDS = env.float("PAGE_CACHE_SECONDS", default=0.5)
# Each worker process also keeps the shared pages it served in its own memory, for no longer
# than they are fresh: most requests then need no trip to the shared cache.
CACHES["worker_pages"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "psyweb-worker-pages",
    "OPTIONS": {"MAX_ENTRIES": 500},
}

# Admin login: django-axes refuses sign-ins, for AXES_COOLOFF_TIME, from a client address or
# to an account that has failed AXES_FAILURE_LIMIT times; a successful sign-in starts the count
# again. The counts live only in the cache (Redis in production), under hashed keys that expire
# with the cool-off, so no address is kept longer than that: no database rows, no access log.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one locks: not the pair
AXES_RESET_ON_SUCCESS = True
# The address the vote limit counts: REMOTE_ADDR, or X-Forwarded-For behind TRUSTED_PROXY_COUNT.
AXES_CLIENT_IP_CALLABLE = "polls.ratelimit.client_address"
AXES_LOCKOUT_TEMPLATE = "axes_lockout.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False  # its tables stay empty with the cache handler
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache":
    # axes warns that a file cache's increments are not atomic: failures arriving at the same
    # instant may be counted once. The file cache is shared by every process on this machine,
    # which is what the counts need; production uses Redis, whose increments are atomic.
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Security. The three TLS settings are on whenever DEBUG is off, so a production
# deployment behind TLS is safe by default; set one to False to serve plain HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# The health check (psyweb/health.py) answers plain HTTP too, so that a load balancer or
# monitor on the private network can ask gunicorn directly; it still needs an allowed Host.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTP Strict Transport Security, on by default as cookiecutter-django sets it: browsers that
# saw the site over HTTPS refuse plain HTTP to it (and its subdomains) for this long. Start at
# 60 s, raise it (a year: 31536000) once HTTPS works everywhere; see docs/deployment.md for
# what preload commits a domain to. Sent only over HTTPS.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Readers' pages load nothing from another origin: no fonts, scripts or images from
# third parties, so no third party learns who reads what on a health site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

ARTICLES_PER_PAGE = 10

# Polls. Ballots are stored under an HMAC of the voter's cookie token (or user id) keyed with
# this secret; changing it lets everyone vote again.
POLL_VOTER_SECRET = env.str("POLL_VOTER_SECRET", default="") or SECRET_KEY
# Accepted votes per hour per client address per poll; 0 turns the limit off.
POLL_IP_VOTE_LIMIT = env.int("POLL_IP_VOTE_LIMIT", default=100)
# How many proxies in front of the site append to X-Forwarded-For. With 0, the client address
# is REMOTE_ADDR and forwarding headers are ignored, so a client cannot choose its own address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
