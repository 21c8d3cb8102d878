"""deploy/nginx.conf rendered for several app servers: the `server` lines of its upstream.

No PostgreSQL needed; `nginx -t` needs nginx (skipped without it, unless REQUIRE_NGINX is set).
"""

import re
import subprocess

import pytest

from tests.deploy.conftest import load_launcher

from .conftest import required_nginx

serve = load_launcher()


def render(tmp_path, upstream):
    return serve.render_config(
        serve.TEMPLATE.read_text(encoding="utf-8"),
        run_dir=tmp_path / "run",
        port=8123,
        upstream=upstream,
        static_root=tmp_path / "staticfiles",
        media_root=tmp_path / "media",
        as_root=False,
    )


def upstream_block(text):
    return re.search(r"upstream django \{(.*?)\n    \}", text, re.DOTALL)[1]


def servers_in(text):
    return re.findall(r"^\s*server (.*);$", upstream_block(text), re.MULTILINE)


def test_one_server_is_never_marked_down(tmp_path):
    assert servers_in(render(tmp_path, "unix:/run/psyweb/gunicorn.sock")) == [
        '"unix:/run/psyweb/gunicorn.sock" fail_timeout=0'
    ]


def test_several_servers_are_each_left_out_for_5_seconds_after_a_failure(tmp_path):
    text = render(tmp_path, ["127.0.0.1:8001", "10.0.0.12:8000", "unix:/run/psyweb/g.sock"])
    assert servers_in(text) == [
        '"127.0.0.1:8001" max_fails=1 fail_timeout=5s',
        '"10.0.0.12:8000" max_fails=1 fail_timeout=5s',
        '"unix:/run/psyweb/g.sock" max_fails=1 fail_timeout=5s',
    ]
    # Shared by nginx's workers; no idle connections kept (gunicorn's sync workers close them).
    directives = [line.split("#")[0].strip() for line in upstream_block(text).splitlines()]
    assert "zone django 64k;" in directives
    assert not any(line.startswith("keepalive") for line in directives)


def test_a_post_that_reached_a_server_is_never_sent_to_another(tmp_path):
    directives = [line.split("#")[0].strip() for line in render(tmp_path, "x:1").splitlines()]
    assert "proxy_next_upstream error timeout;" in directives
    assert not any("non_idempotent" in line for line in directives)


@pytest.mark.parametrize("bad", [[], ['127.0.0.1:8001"; evil'], ["unix:/a b;c"]])
def test_no_servers_or_addresses_nginx_would_misread_are_refused(tmp_path, bad):
    with pytest.raises(serve.ServeError):
        render(tmp_path, bad)


def test_nginx_accepts_the_configuration_for_several_servers(tmp_path):
    nginx = required_nginx()
    for folder in ("run", "staticfiles", "media"):
        (tmp_path / folder).mkdir()
    config = tmp_path / "run" / "nginx.conf"
    config.write_text(render(tmp_path, ["127.0.0.1:8001", "127.0.0.1:8002"]), encoding="utf-8")
    checked = subprocess.run(  # noqa: S603 - nginx, fixed arguments
        [nginx, "-t", "-p", f"{tmp_path / 'run'}/", "-c", str(config), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
