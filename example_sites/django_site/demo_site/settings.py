"""Settings of the Kero Django example: a small site with Kero installed the documented way
(INSTALLED_APPS, one MIDDLEWARE line, the KERO dict, one URL include).

Environment variables: KERO_DB_PATH (Kero's folder), DJANGO_DB_PATH (the SQLite file),
DJANGO_DEBUG=0 to turn debug off."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "blog",
    "kero_django",
]
MIDDLEWARE = [
    "kero_django.middleware.KeroMiddleware",  # first: it records what each client received
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


def _geolite2() -> str | None:
    """The GeoLite2-City database shipped by the maxminddb-geolite2 package, when installed."""
    try:
        from _maxminddb_geolite2 import geolite2_database
    except ImportError:
        return None
    return geolite2_database()


KERO = {
    "DB_PATH": os.environ.get("KERO_DB_PATH") or BASE_DIR / "kero_data",
    "PIXEL_PATH": "/visit.gif",
    "GEOIP_DB": _geolite2(),
    "MEASURE_REQUESTS": True,
    "IGNORE_WEB_ASSETS": True,
    "RETENTION_DAYS": 30,
    "TITLE": "Django site stats",
    # Conversions: the sign-up event, its thank-you page, and reading the blog.
    "GOALS": ["signup", "/thanks/", "/blog/*"],
    "FUNNELS": {"Sign-up": ["/", "/pricing/", "signup", "/thanks/"]},
}

ROOT_URLCONF = "demo_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "demo_site.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH") or BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
