"""For ASGI servers: `uvicorn demo_site.asgi:application` (from example_sites/django_site/).

``with_lifespan`` makes Kero write its last events when uvicorn shuts down."""

import os

from django.core.asgi import get_asgi_application

from kero_django.asgi import with_lifespan

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
application = with_lifespan(get_asgi_application())
