from django.core.asgi import get_asgi_application

from kero_django.asgi import with_lifespan

application = with_lifespan(get_asgi_application())
