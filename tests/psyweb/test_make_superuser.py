"""`make superuser`: a newcomer's first staff account, with nothing set in the environment.

`manage.py createsuperuser` alone stops on the missing SECRET_KEY (DEBUG is off unless asked);
the make target runs it as `make run` runs the site, on a migrated database.
"""

import os
import sqlite3
import subprocess
from pathlib import Path

from django.contrib.auth.hashers import check_password

ROOT = Path(__file__).resolve().parents[2]
# The target's first step; the venv these tests run in has it. Passed to `make -o`, so that
# no test reinstalls packages (that step is checked by a dry run instead).
VENV_READY = ".venv/.requirements"


def newcomer_environment(tmp_path, **extra):
    """This process's environment without the tests' settings or an outer make's flags."""
    dropped = (
        "SECRET_KEY",
        "DEBUG",
        "DATABASE_URL",
        "CACHE_URL",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
    )
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["CACHE_URL"] = f"filecache://{tmp_path / 'cache'}"
    return {**env, **extra}


def make(*args, env):
    return subprocess.run(  # noqa: S603 - fixed arguments
        ["make", "--no-print-directory", *args],  # noqa: S607 - make from PATH, as a newcomer
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_superuser_creates_a_staff_account_without_a_secret_key(tmp_path):
    env = newcomer_environment(
        tmp_path,
        DJANGO_SUPERUSER_USERNAME="first-editor",
        DJANGO_SUPERUSER_EMAIL="editor@example.org",
        DJANGO_SUPERUSER_PASSWORD="a-long-and-unguessable-password",
    )
    result = make("-o", VENV_READY, "superuser", "ARGS=--noinput", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Superuser created successfully." in result.stdout

    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT username, email, is_staff, is_superuser, is_active, password FROM auth_user"
        ).fetchall()
    assert len(rows) == 1
    username, email, is_staff, is_superuser, is_active, password = rows[0]
    assert (username, email, is_staff, is_superuser, is_active) == (
        "first-editor",
        "editor@example.org",
        1,
        1,
        1,
    )
    assert check_password("a-long-and-unguessable-password", password)


def test_make_superuser_sets_up_the_venv_and_migrates_before_asking(tmp_path):
    # -W: as if requirements.txt had changed; -n: print the commands, run none.
    result = make("-n", "-W", "requirements.txt", "superuser", env=newcomer_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    commands = [line.strip() for line in result.stdout.splitlines()]
    pip = next(i for i, c in enumerate(commands) if "pip install" in c and "requirements.txt" in c)
    migrate = commands.index("DEBUG=True .venv/bin/python manage.py migrate --noinput")
    create = commands.index("DEBUG=True .venv/bin/python manage.py createsuperuser")
    assert pip < migrate < create


def test_make_help_lists_superuser(tmp_path):
    result = make("help", env=newcomer_environment(tmp_path))
    assert any(line.startswith("make superuser ") for line in result.stdout.splitlines())
