"""Kero for Django: privacy-friendly analytics as a reusable app.

    INSTALLED_APPS = [..., "kero_django"]
    MIDDLEWARE = [..., "kero_django.middleware.KeroMiddleware", ...]
    KERO = {"DB_PATH": BASE_DIR / "kero"}
    urlpatterns = [path("_kero/", include("kero_django.urls")), ...]

``get_kero()`` returns the process's :class:`kero_core.Kero` (the whole query API);
``track()`` records a custom event."""

from kero_django.runtime import get_kero, track

__all__ = ["get_kero", "track"]
