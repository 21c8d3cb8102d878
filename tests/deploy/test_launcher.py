"""deploy/serve.py's decisions, without starting anything (no nginx needed)."""

import re

import pytest

from .conftest import load_launcher

serve = load_launcher()


def test_plain_http_defaults_are_filled_in_only_where_nothing_is_set(tmp_path):
    env, filled = serve.server_environment({"PATH": "/bin"}, dotenv=tmp_path / "none")
    assert filled == serve.LOCAL_DEFAULTS
    assert env["ALLOWED_HOSTS"] == "127.0.0.1,localhost"
    assert env["TRUSTED_PROXY_COUNT"] == "1"
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        assert env[name] == "False"
    assert "SECRET_KEY" not in env  # never made up


def test_what_the_environment_or_dotenv_sets_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport ALLOWED_HOSTS=psyweb.example.org\n# TRUSTED_PROXY_COUNT=3\n"
    )
    env, filled = serve.server_environment(
        {"SECURE_SSL_REDIRECT": "True", "TRUSTED_PROXY_COUNT": "2"}, dotenv=dotenv
    )
    assert env["SECURE_SSL_REDIRECT"] == "True"
    assert env["TRUSTED_PROXY_COUNT"] == "2"
    assert "ALLOWED_HOSTS" not in env  # left to .env, which Django's settings read
    assert set(filled) == {"SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"}


def test_debug_is_always_off(tmp_path):
    env, _ = serve.server_environment({"DEBUG": "True"}, dotenv=tmp_path / "none")
    assert env["DEBUG"] == "False"


def render(tmp_path, **overrides):
    values = {
        "run_dir": tmp_path / "run",
        "port": 8123,
        "upstream": f"unix:{tmp_path / 'run' / 'gunicorn.sock'}",
        "static_root": tmp_path / "staticfiles",
        "media_root": tmp_path / "media",
        "as_root": False,
    }
    values.update(overrides)
    return serve.render_config(serve.TEMPLATE.read_text(), **values)


def test_the_rendered_config_has_every_placeholder_filled_in(tmp_path):
    text = render(tmp_path)
    assert "{{" not in text
    assert "listen 127.0.0.1:8123 default_server;" in text
    assert f'server "unix:{tmp_path}/run/gunicorn.sock" fail_timeout=0;' in text
    assert f'alias "{tmp_path}/staticfiles/";' in text
    assert "daemon off;" in text
    assert not re.search(r"^\s*user ", text, re.MULTILINE)
    assert re.search(r"^user root;$", render(tmp_path, as_root=True), re.MULTILINE)


def test_nginx_keeps_pages_unless_django_shares_none(tmp_path):
    assert "proxy_cache pages;" in render(tmp_path)
    without = render(tmp_path, page_cache=False)
    assert "proxy_cache pages;" not in without
    # Off for the whole server (its directives are indented 8; a location's, 12).
    assert re.search(r"^ {8}proxy_cache off;$", without, re.MULTILINE)


@pytest.mark.parametrize("bad", ['with"quote', "with$variable", "with;semicolon", "new\nline"])
def test_paths_nginx_would_misread_are_refused(tmp_path, bad):
    with pytest.raises(serve.ServeError):
        render(tmp_path, static_root=tmp_path / bad)


def test_a_path_with_a_space_is_quoted(tmp_path):
    assert f'alias "{tmp_path}/my media/";' in render(tmp_path, media_root=tmp_path / "my media")
