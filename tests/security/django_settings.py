"""The Django test project, with HTTP Basic credentials for the dashboard (the project itself
relies on staff users, whom a server in another process cannot log in here)."""

import os

from tests.django.project.settings import *  # noqa: F403

KERO = {**KERO, "ADMIN_USER": os.environ["KERO_ADMIN_USER"], "ADMIN_PASSWORD": os.environ["KERO_ADMIN_PASSWORD"]}  # noqa: F405
