"""Settings of the Django project the tests drive, in process and under real servers.

A server started by a test gets its Kero folder from the KERO_TEST_DB_PATH environment variable;
in-process tests replace KERO per test (see conftest.py)."""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

SECRET_KEY = "kero-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "kero_django",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kero_django.middleware.KeroMiddleware",
]
ROOT_URLCONF = "tests.django.project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
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
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
USE_TZ = True
KERO = {
    "DB_PATH": os.environ.get("KERO_TEST_DB_PATH"),
    "FLUSH_INTERVAL": float(os.environ.get("KERO_TEST_FLUSH_INTERVAL", "1")),
    "PIXEL_PATH": "/visit.gif",
    "MEASURE_REQUESTS": True,
    "IGNORE_WEB_ASSETS": True,
}
# Tests create users; the default hasher is slow on purpose.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
