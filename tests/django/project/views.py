"""Views of the test project: plain, parameterised, slow, failing, async and streamed."""

import asyncio
import os
import time

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

import kero_django


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


def hello(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse(f"hello {name}")


def slow(request: HttpRequest) -> HttpResponse:
    time.sleep(0.123)
    return HttpResponse("slow")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the host view failed")


async def nap(request: HttpRequest, ms: int) -> HttpResponse:
    await asyncio.sleep(ms / 1000)
    return HttpResponse(f"slept {ms} ms")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks():
        yield b"a"
        time.sleep(0.05)
        yield b"b"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def cached_page(request: HttpRequest) -> HttpResponse:
    return render(request, "cached.html")


def signup(request: HttpRequest) -> HttpResponse:
    kero_django.track("signup", {"plan": "pro"}, request=request)
    return HttpResponse("welcome")


def pid(request: HttpRequest) -> HttpResponse:
    """Which process answered: tells runserver's reloaded child from the one before."""
    return HttpResponse(str(os.getpid()))
