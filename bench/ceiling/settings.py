"""The site's own settings (same database, cache, DEBUG...), minus every middleware."""

from psyweb.settings import *  # noqa: F403

MIDDLEWARE = []
ROOT_URLCONF = "bench.ceiling.urls"
