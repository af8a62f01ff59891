"""A site without django.contrib.auth, sessions or admin: the dashboard is behind HTTP Basic
credentials from KERO["ADMIN_USER"]/KERO["ADMIN_PASSWORD"]."""

import os

SECRET_KEY = "kero-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["kero_django"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware", "kero_django.middleware.KeroMiddleware"]
ROOT_URLCONF = "tests.django.project.minimal_urls"
DATABASES: dict = {}
USE_TZ = True
KERO = {
    "DB_PATH": os.environ.get("KERO_TEST_DB_PATH"),
    "MEASURE_REQUESTS": True,
    "IGNORE_WEB_ASSETS": True,
    "ADMIN_USER": "admin",
    "ADMIN_PASSWORD": "s3cret",
}
