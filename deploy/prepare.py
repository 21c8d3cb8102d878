"""Ready the site for `make serve`; deploy/serve.py runs this in the environment it will serve.

Loads Django's settings (a missing SECRET_KEY stops here, with the settings' own message),
checks that the database has every migration, collects the static files, and prints, as JSON
on stdout, the folders nginx serves files from.

Exit status: 0 ready; 2 the settings refuse to load; 3 the database cannot be used.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    sys.path.insert(0, str(ROOT))  # `python deploy/prepare.py` puts deploy/ on the path, not ROOT
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psyweb.settings")

    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        print(f"ImproperlyConfigured: {error}", file=sys.stderr)
        print("make serve: DEBUG is off, as in production (docs/deployment.md).", file=sys.stderr)
        return 2

    from django.conf import settings
    from django.core.management import call_command
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    database = f"the {connection.vendor} database {settings.DATABASES['default']['NAME']}"
    fix = (
        "Set DATABASE_URL to a migrated database, or migrate this one with the same environment: "
        f"{sys.executable} manage.py migrate (and manage.py load_demo for the demo content)."
    )
    if connection.vendor == "sqlite" and not Path(connection.settings_dict["NAME"]).exists():
        print(f"make serve: {database} does not exist. {fix}", file=sys.stderr)
        return 3
    try:
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        print(f"make serve: cannot use {database}: {error}".rstrip(), file=sys.stderr)
        return 3
    finally:
        connection.close()
    if unapplied:
        print(f"make serve: {database} lacks {len(unapplied)} migration(s). {fix}", file=sys.stderr)
        return 3

    call_command("collectstatic", interactive=False, verbosity=0)
    json.dump(
        {
            "static_root": str(settings.STATIC_ROOT),
            "media_root": str(settings.MEDIA_ROOT),
            "page_cache_seconds": settings.PAGE_CACHE_SECONDS,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
