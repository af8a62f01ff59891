"""Include it where the dashboard should live: ``path("_kero/", include("kero_django.urls"))``.

One catch-all pattern, so the page, its static assets, the CSV and the JSON API share one view
and one access check. ``reverse("kero:dashboard", kwargs={"subpath": ""})`` is the page."""

from django.urls import re_path

from kero_django import views
from kero_django.conf import APP_NAME

app_name = APP_NAME
urlpatterns = [re_path(r"^(?P<subpath>.*)\Z", views.dashboard, name="dashboard")]
