from django.urls import include, path

from tests.django.project import views

urlpatterns = [
    path("", views.index),
    path("hello/<str:name>", views.hello),
    path("stats/", include("kero_django.urls")),
]
