"""Settings of the Django hello-world the HTTP benchmark serves under gunicorn.

``BENCH_VARIANT``: ``bare`` (Django alone), ``kero`` (kero_django, GeoIP on, as documented) or
``peer`` (django-request, which stores each request through the ORM); ``BENCH_DATA``: the folder
of Kero's data and of the SQLite database. The three share everything else: no session, auth or
CSRF middleware, so the difference is the tracker."""

import os

VARIANT = os.environ.get("BENCH_VARIANT", "bare")
DATA = os.environ.get("BENCH_DATA", ".")

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_site.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE: list[str] = []
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(DATA, "django.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

if VARIANT == "kero":
    from _maxminddb_geolite2 import geolite2_database

    INSTALLED_APPS.append("kero_django")
    MIDDLEWARE.append("kero_django.middleware.KeroMiddleware")
    KERO = {"DB_PATH": os.path.join(DATA, "kero"), "GEOIP_DB": geolite2_database(), "MEASURE_REQUESTS": True}
elif VARIANT == "peer":
    INSTALLED_APPS.append("request")
    MIDDLEWARE.append("request.middleware.RequestMiddleware")
elif VARIANT != "bare":
    raise SystemExit(f"BENCH_VARIANT must be bare, kero or peer, not {VARIANT!r}")
