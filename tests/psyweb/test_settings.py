"""Settings are read from the environment; these run Django in a fresh process to see it start."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


# Set Django up, serving static files by their plain names (tests do not run collectstatic).
PRELUDE = """
import django
django.setup()
from django.conf import settings
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
"""


def run_django(code, **env):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
                       "CSRF_COOKIE_SECURE", "ALLOWED_HOSTS"}
    }  # fmt: skip
    environment.update(env, DJANGO_SETTINGS_MODULE="psyweb.settings")
    script = PRELUDE + code
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_secret_key_with_debug_off_stops_start_up_with_a_clear_message():
    result = run_django("", DEBUG="False")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set." in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_debug_runs_without_a_secret_key():
    result = run_django("from django.conf import settings; print(settings.DEBUG)", DEBUG="True")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_debug_is_off_unless_asked():
    result = run_django("from django.conf import settings; print(settings.DEBUG)", SECRET_KEY="k")
    assert result.stdout.strip() == "False", result.stderr


def test_tls_settings_are_on_by_default_when_debug_is_off():
    result = run_django(
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
        SECRET_KEY="k",
    )
    assert result.stdout.split() == ["True", "True", "True"], result.stderr


def test_each_tls_setting_can_be_turned_off_for_plain_http_on_localhost():
    result = run_django(
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
        SECRET_KEY="k",
        SECURE_SSL_REDIRECT="False",
        SESSION_COOKIE_SECURE="False",
        CSRF_COOKIE_SECURE="False",
    )
    assert result.stdout.split() == ["False", "False", "False"], result.stderr


def test_plain_http_request_is_redirected_to_https_by_default():
    result = run_django(
        "from django.test import Client; "
        "r = Client().get('/legal/'); print(r.status_code, r['Location'])",
        SECRET_KEY="k",
        ALLOWED_HOSTS="testserver",
    )
    assert result.stdout.split() == ["301", "https://testserver/legal/"], result.stderr


def test_default_cache_is_shared_by_every_process_on_the_machine():
    result = run_django(
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        SECRET_KEY="k",
        CACHE_URL="",
    )
    assert "LocMemCache" not in result.stdout
    assert result.stdout.strip() == "django.core.cache.backends.filebased.FileBasedCache"


def test_deploy_checks_pass_with_only_the_required_settings():
    environment = {
        "PATH": os.environ["PATH"],
        "DEBUG": "False",
        "SECRET_KEY": "a-long-random-secret-for-this-test-only-0123456789-abcdefghijklmnop",
        "ALLOWED_HOSTS": "psyweb.example.org",
        "DATABASE_URL": "postgres://psyweb@127.0.0.1:5432/psyweb",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_postgresql_connections_give_up_on_a_server_that_does_not_answer():
    result = run_django(
        "from django.conf import settings\n"
        "options = settings.DATABASES['default']['OPTIONS']\n"
        "print(options['connect_timeout'], options['options'], options['tcp_user_timeout'])\n",
        SECRET_KEY="k",
        DATABASE_URL="postgres://psyweb@db.example/psyweb",
        DATABASE_CONNECT_TIMEOUT="5",
        DATABASE_STATEMENT_TIMEOUT="2.5",
    )
    assert result.stdout.split() == ["5", "-c", "statement_timeout=2500", "10000"], result.stderr
