"""The example's pages. Nothing here knows about Kero except the sign-up, which records a
custom event with ``kero_django.track``."""

from __future__ import annotations

from typing import NamedTuple

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

import kero_django


class Post(NamedTuple):
    slug: str
    title: str
    date: str
    body: str


POSTS = (
    Post("hello-kero", "Hello, Kero", "2026-11-02", "Server-side analytics without cookies, stored in a DuckDB file next to the site."),
    Post("privacy-by-design", "Privacy by design", "2026-11-09", "No IP address and no User-Agent string is ever stored; visitor ids rotate every day."),
    Post("staff-only", "Stats for your staff", "2026-11-16", "The dashboard uses the Django logins you already have: staff users see it, nobody else."),
)
PLANS = ("hobby", "pro", "team")


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "blog/index.html", {"posts": POSTS[:2]})


def post_list(request: HttpRequest) -> HttpResponse:
    return render(request, "blog/posts.html", {"posts": POSTS})


def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    post = next((p for p in POSTS if p.slug == slug), None)
    if post is None:
        raise Http404("No such post")
    return render(request, "blog/post.html", {"post": post})


def pricing(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        plan = request.POST.get("plan", "")
        if plan not in PLANS:
            return HttpResponseBadRequest("Unknown plan")
        kero_django.track("signup", {"plan": plan}, request=request)  # browser, country... from the request
        return redirect(reverse("blog:thanks") + f"?plan={plan}")
    return render(request, "blog/pricing.html", {"plans": PLANS})


def thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "blog/thanks.html", {"plan": request.GET.get("plan", "")})


def about(request: HttpRequest) -> HttpResponse:
    return render(request, "blog/about.html")
