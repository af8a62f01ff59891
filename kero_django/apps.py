"""The app's configuration. ``ready()`` only registers the system checks: the Kero instance is
built on first use (see ``runtime``), never here, so nothing runs before a server forks."""

from django.apps import AppConfig


class KeroConfig(AppConfig):
    name = "kero_django"
    verbose_name = "Kero"
    # The admin link's model has no table; a fixed id type keeps its migration independent of
    # the host project's DEFAULT_AUTO_FIELD.
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from kero_django import checks  # noqa: F401  (registers the checks)
