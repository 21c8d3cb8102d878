"""`make serve`: the production stack on this machine, in the foreground.

nginx listens on 127.0.0.1:$PORT (default 8000) in front of gunicorn (gunicorn.conf.py,
WEB_CONCURRENCY workers, default 4), which listens on a unix socket. In order, this launcher:

1. finds nginx (if it is missing, says which package to install, and exits 1);
2. fills in what a plain-HTTP loopback server needs, where the environment (or .env) does not
   say: ALLOWED_HOSTS=127.0.0.1,localhost, the three TLS settings off, TRUSTED_PROXY_COUNT=1.
   DEBUG is always off; a SECRET_KEY is never made up;
3. runs deploy/prepare.py: Django's settings load (a missing SECRET_KEY stops here, with the
   settings' own message), the database has every migration, collectstatic;
4. renders deploy/nginx.conf into .cache/serve/<port>/ (pid, temp files, page cache, socket);
5. starts gunicorn and nginx, each in a process group of its own, and waits.

Ctrl-C, SIGTERM or SIGHUP stops both (nginx first, so no request is cut off midway; a second
Ctrl-C stops them at once) and exits 0. If either exits on its own, the other is stopped and
the launcher exits 1. Nothing it started is left running.

Python standard library only: run it with the project's venv Python (`make serve` does).
"""

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf"
SERVE_DIR = ROOT / ".cache" / "serve"
HOST = "127.0.0.1"
NGINX_PACKAGE = "nginx-light"

# Plain HTTP on loopback: applied only where neither the environment nor .env sets them.
LOCAL_DEFAULTS = {
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "False",
    "SESSION_COOKIE_SECURE": "False",
    "CSRF_COOKIE_SECURE": "False",
    # nginx appends the client's address to X-Forwarded-For; Django reads that last entry.
    "TRUSTED_PROXY_COUNT": "1",
}

NGINX_STOP_SECONDS = 8  # nginx's worker_shutdown_timeout is 5 s
GUNICORN_STOP_SECONDS = 15  # gunicorn.conf.py's graceful_timeout is 10 s
UNIX_SOCKET_PATH_MAX = 104  # sun_path is 108 bytes on Linux, 104 on macOS


class ServeError(Exception):
    """make serve cannot start; the message says why."""


def say(message):
    print(f"make serve: {message}", file=sys.stderr, flush=True)


# --- Before starting anything -------------------------------------------------------------


def find_nginx():
    nginx = shutil.which("nginx")
    if nginx is None:
        raise ServeError(
            "nginx is not installed (no `nginx` on PATH). On Debian or Ubuntu: "
            f"sudo apt-get install {NGINX_PACKAGE}"
        )
    return nginx


def nginx_version(nginx):
    done = subprocess.run(  # noqa: S603 - nginx found on PATH, fixed arguments
        [nginx, "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", done.stderr + done.stdout)
    return tuple(int(part) for part in found.groups()) if found else None


def dotenv_names(path):
    """The variables a .env file sets (Django's settings read it too); values are not needed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return set()
    pattern = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)
    return set(pattern.findall(text))


def server_environment(environ, dotenv=ROOT / ".env"):
    """The environment gunicorn and Django run in, and the defaults that were filled in."""
    env = dict(environ)
    env["DEBUG"] = "False"  # what production runs
    configured = set(environ) | dotenv_names(dotenv)
    filled = {name: value for name, value in LOCAL_DEFAULTS.items() if name not in configured}
    env.update(filled)
    return env, filled


def check_port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise ServeError(
                f"cannot listen on {HOST}:{port} ({error.strerror}). "
                f"Choose another port: make serve PORT={port + 1}"
            ) from None


@contextlib.contextmanager
def locked(path, *, wait, remove=False):
    """Hold an exclusive lock on `path`; without `wait`, fail if another process holds it.

    With `remove`, the file is deleted before it is unlocked.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServeError(f"another `make serve` is running on this port ({path})") from None
        try:
            yield
        finally:
            if remove:
                path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(python, env):
    """Run deploy/prepare.py: settings, migrations, collectstatic. Returns its folders."""
    # One at a time: two `make serve` (on two ports) must not run collectstatic together.
    with locked(SERVE_DIR / "prepare.lock", wait=True):
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            [python, str(ROOT / "deploy" / "prepare.py")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        # prepare.py has said why on stderr (e.g. the settings' SECRET_KEY message).
        raise ServeError(f"not started (deploy/prepare.py exited with {done.returncode}).")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ServeError(f"deploy/prepare.py printed no folders: {done.stdout!r}") from None


def quotable(path):
    """A path that can stand in double quotes in nginx's configuration, as it is."""
    text = str(path)
    if re.search(r'["$;{}\\]|[^\S ]', text):  # quotes, variables, braces; any space but " "
        raise ServeError(f"nginx cannot be configured with this path: {text!r}")
    return text


def upstream_servers(upstream):
    """The `server` lines of nginx's `upstream django`: gunicorn at each address in `upstream`.

    `make serve` passes its one unix socket (`unix:/…/gunicorn.sock`), which nginx never marks
    as down; several addresses (`127.0.0.1:8001`, `unix:/…`, in a list) are each left out for
    5 s after a failed attempt. deploy/nginx.conf says why.
    """
    addresses = [upstream] if isinstance(upstream, (str, os.PathLike)) else list(upstream)
    if not addresses:
        raise ServeError("nginx needs at least one app server to pass requests to")
    if len(addresses) == 1:
        return f'server "{quotable(addresses[0])}" fail_timeout=0;'
    lines = [f'server "{quotable(address)}" max_fails=1 fail_timeout=5s;' for address in addresses]
    return "\n        ".join(lines)  # indented as in the template's `upstream django { }`


def render_config(
    template, *, run_dir, port, upstream, static_root, media_root, as_root, page_cache=True
):
    """deploy/nginx.conf with its {{NAME}} placeholders filled in.

    `upstream`: gunicorn's address, or a list of the addresses of several app servers.
    `page_cache`: False when Django shares no page (PAGE_CACHE_SECONDS=0): nginx then keeps
    none either, and takes no cache lock (which would make the requests for a page that can
    never be stored take turns, each waiting in steps of 500 ms: 25 requests a second).
    """
    values = {
        "RUN_DIR": quotable(run_dir),
        "PORT": str(int(port)),
        "UPSTREAM_SERVERS": upstream_servers(upstream),
        "PAGE_CACHE": "pages" if page_cache else "off",
        "STATIC_ROOT": quotable(static_root),
        "MEDIA_ROOT": quotable(media_root),
        # As root, nginx would switch its workers to `nobody`, who may neither read the
        # checkout (under /root, say) nor write .cache/serve. gunicorn runs as root then
        # too, so nginx's workers gain nothing over it by staying root.
        "USER": "user root;" if as_root else "",
    }
    # The template's own header (up to the first blank line) describes the placeholders.
    _, _, body = template.partition("\n\n")
    text = (
        f"# Rendered by deploy/serve.py from deploy/nginx.conf when `make serve` started.\n"
        f"# Edit that template, not this file.\n\n{body}"
    )
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    left = re.findall(r"\{\{[A-Z_]+\}\}", text)
    if left:
        raise ServeError(f"deploy/nginx.conf has unknown placeholders: {', '.join(left)}")
    return text


# --- Running -------------------------------------------------------------------------------


def _parent_death_signal():
    """Linux: if the launcher itself is killed (SIGKILL), its children get SIGTERM."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec():
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


class Child:
    """A server process in a process group of its own, so that it and its workers can be
    stopped together, and so that Ctrl-C in the terminal reaches the launcher only (which
    stops the servers in order) rather than everything at once."""

    def __init__(self, name, command, *, env, stop_signal, stop_seconds):
        self.name = name
        self.stop_signal = stop_signal
        self.stop_seconds = stop_seconds
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=_parent_death_signal(),  # safe: the launcher runs no threads
        )
        self.pid = self.process.pid

    def exited(self):
        return self.process.poll() is not None

    def describe_exit(self):
        code = self.process.returncode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def stop(self, urgent):
        """Ask the server to stop; after stop_seconds (or at once if `urgent`), kill its group.

        `urgent()` is polled while waiting: a second Ctrl-C ends the wait.
        """
        if not self.exited():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(self.stop_signal)
            deadline = time.monotonic() + self.stop_seconds
            while not self.exited() and time.monotonic() < deadline and not urgent():
                time.sleep(0.05)
        # Whatever is left of the group: workers of a server that died or did not stop.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class Signals:
    """SIGINT, SIGTERM and SIGHUP, noted rather than acted on in the handler."""

    def __init__(self):
        self.received = []
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, self._note)

    def _note(self, number, frame):
        self.received.append(signal.Signals(number).name)


def serve(port):
    nginx = find_nginx()
    env, filled = server_environment(os.environ)
    signals = Signals()
    SERVE_DIR.mkdir(parents=True, exist_ok=True)
    with locked(SERVE_DIR / f"{port}.lock", wait=False, remove=True):
        check_port_free(port)
        try:
            folders = prepare(sys.executable, env)
        except ServeError:
            if not signals.received:
                raise
        if signals.received:  # Ctrl-C while preparing (which stops prepare.py too)
            say(f"{signals.received[0]} received; not starting.")
            return 130

        run_dir = SERVE_DIR / str(port)
        shutil.rmtree(run_dir, ignore_errors=True)  # a previous run's pages and socket
        run_dir.mkdir(mode=0o700)  # the socket and the cache are for this user only
        try:
            return run(nginx, port, run_dir, folders, env, filled, signals)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


def run(nginx, port, run_dir, folders, env, filled, signals):
    gunicorn_socket = run_dir / "gunicorn.sock"
    if len(str(gunicorn_socket)) > UNIX_SOCKET_PATH_MAX:
        raise ServeError(
            f"the checkout's path is too long for a unix socket: {gunicorn_socket}. "
            "Clone it somewhere shorter."
        )
    config = run_dir / "nginx.conf"
    config.write_text(
        render_config(
            TEMPLATE.read_text(encoding="utf-8"),
            run_dir=run_dir,
            port=port,
            upstream=f"unix:{gunicorn_socket}",
            static_root=folders["static_root"],
            media_root=folders["media_root"],
            as_root=os.geteuid() == 0,
            page_cache=folders["page_cache_seconds"] > 0,
        ),
        encoding="utf-8",
    )
    env = {
        **env,
        "GUNICORN_BIND": f"unix:{gunicorn_socket}",
        "GUNICORN_CONTROL_SOCKET": str(run_dir / "gunicorn.ctl"),
    }
    nginx_command = [nginx, "-p", f"{run_dir}/", "-c", str(config)]
    version = nginx_version(nginx)
    if version is None or version >= (1, 19, 5):
        # Errors go to stderr from the start, not to the compiled-in log file (before 1.19.5
        # there is no -e; Debian's nginx logs to stderr anyway).
        nginx_command += ["-e", "stderr"]

    if filled:
        say("plain HTTP on loopback: " + ", ".join(f"{k}={v}" for k, v in filled.items()))
    children = []
    try:
        # gunicorn first, so that nginx's first requests find it.
        children.append(
            Child(
                "gunicorn",
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
                env=env,
                stop_signal=signal.SIGTERM,  # graceful: workers finish their request
                stop_seconds=GUNICORN_STOP_SECONDS,
            )
        )
        if not signals.received:
            children.insert(
                0,
                Child(
                    "nginx",
                    nginx_command,
                    env=env,
                    stop_signal=signal.SIGQUIT,  # graceful: requests under way are finished
                    stop_seconds=NGINX_STOP_SECONDS,
                ),
            )
        status = supervise(children, signals, port, run_dir, env)
    finally:
        # nginx first (it stops taking requests and finishes those under way), then gunicorn.
        for child in children:
            child.stop(urgent=lambda: len(signals.received) > 1)
    say("stopped.")
    return status


def supervise(children, signals, port, run_dir, env):
    """Wait for a signal (returns 0) or for a server to exit on its own (returns 1)."""
    announced = False
    while not signals.received:
        for child in children:
            if child.exited():
                others = " and ".join(c.name for c in children if c is not child) or "nothing"
                say(f"{child.name} {child.describe_exit()}; stopping {others}.")
                return 1
        if not announced and all(
            (run_dir / name).exists() for name in ("nginx.pid", "gunicorn.sock")
        ):
            workers = env.get("WEB_CONCURRENCY", "4")
            say(
                f"PsyWeb is at http://{HOST}:{port}/ (nginx in front of gunicorn with "
                f"{workers} workers, DEBUG off). Ctrl-C stops it."
            )
            announced = True
        time.sleep(0.1)
    say(f"{signals.received[0]} received; stopping nginx and gunicorn.")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or 8000),
        help="where nginx listens on 127.0.0.1 (default: $PORT, else 8000)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"not a port: {args.port}")
    try:
        return serve(args.port)
    except ServeError as error:
        say(str(error))
        return 1


if __name__ == "__main__":
    sys.exit(main())
