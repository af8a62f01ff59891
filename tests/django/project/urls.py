from django.contrib import admin
from django.urls import include, path

from tests.django.project import views

urlpatterns = [
    path("", views.index),
    path("hello/<str:name>", views.hello),
    path("slow/", views.slow),
    path("boom/", views.boom),
    path("nap/<int:ms>/", views.nap),
    path("stream/", views.stream),
    path("cached/", views.cached_page),
    path("signup/", views.signup),
    path("_pid/", views.pid),  # under /_: not tracked (IGNORE_WEB_ASSETS)
    path("admin/", admin.site.urls),
    path("_kero/", include("kero_django.urls")),
]
