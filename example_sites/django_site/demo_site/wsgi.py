"""For production servers: `gunicorn -w 4 demo_site.wsgi` (from example_sites/django_site/)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
application = get_wsgi_application()
