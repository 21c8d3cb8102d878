from django.apps import AppConfig
from django.conf import settings


class PsywebConfig(AppConfig):
    """The project itself, as an app: what has to be set up once Django is."""

    name = "psyweb"
    verbose_name = "PsyWeb"

    def ready(self):
        engines = {database["ENGINE"] for database in settings.DATABASES.values()}
        if "django.db.backends.postgresql" in engines:
            from . import db

            db.install()
