"""For ASGI servers: `uvicorn demo_site.asgi:application` (from example_sites/django_site/)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
application = get_asgi_application()
