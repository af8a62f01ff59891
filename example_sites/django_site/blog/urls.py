from django.urls import path

from blog import views

app_name = "blog"
urlpatterns = [
    path("", views.index, name="index"),
    path("blog/", views.post_list, name="posts"),
    path("blog/<slug:slug>/", views.post_detail, name="post"),
    path("pricing/", views.pricing, name="pricing"),
    path("thanks/", views.thanks, name="thanks"),
    path("about/", views.about, name="about"),
]
