"""gunicorn's settings for PsyWeb, read from the environment.

`make serve` (deploy/serve.py) runs gunicorn with this file behind nginx, bound to a unix
socket. Run bare, `gunicorn -c gunicorn.conf.py` serves on 127.0.0.1:8000. Command-line
options win over this file.
"""

import os
from pathlib import Path

wsgi_app = "psyweb.wsgi:application"

# Where to listen. deploy/serve.py sets a unix socket that only nginx uses.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sync workers, one request at a time each. nginx buffers whole requests and responses, so a
# slow client never holds a worker; the count is about CPU and database latency.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# No access log: an access log of a health site records who read what and who voted.
accesslog = None
errorlog = "-"

# Which peers may tell gunicorn the scheme through headers: none by default. Django reads the
# proxy's headers itself (SECURE_PROXY_SSL_HEADER, TRUSTED_PROXY_COUNT), so gunicorn trusts
# no one, not even loopback (where any local process could claim to be the proxy).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
# gunicorn trusts connections over a unix socket whatever forwarded_allow_ips says; so that it
# never decides the scheme from a header the client may have sent (nginx sets
# X-Forwarded-Proto, not X-Forwarded-Ssl or X-Forwarded-Protocol), it looks at none.
secure_scheme_headers = {}
forwarder_headers = ""

# A request that takes longer than this is a stuck worker: it is killed and replaced.
timeout = 30
# On SIGTERM (Ctrl-C under make serve) workers finish the request they are on, for so long.
graceful_timeout = 10

# Workers report they are alive by touching a file; on /dev/shm that costs no disk I/O (and
# cannot stall on a busy or network-mounted disk).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - not a file

# gunicorn's control socket (gunicornc) would default to one path per user, shared by every
# gunicorn that user runs. deploy/serve.py gives each `make serve` its own; run bare, none.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

proc_name = "psyweb"
