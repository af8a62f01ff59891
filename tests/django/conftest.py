"""Django for the tests of this folder only: the settings module is chosen here (not in
pyproject.toml) so the rest of the suite runs without Django configured.

Every test gets its own KERO folder under tmp_path; the Kero instance is closed after it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.django.project.settings"

import django  # noqa: E402
import pytest  # noqa: E402
from django.apps import apps  # noqa: E402
from django.test import Client  # noqa: E402

if not apps.ready:  # pytest-django set Django up only if the variable was set before it started
    django.setup()

from kero_core import Kero  # noqa: E402
from kero_django import get_kero, runtime  # noqa: E402
from tests.conftest import CHROME_UA  # noqa: E402

T = TypeVar("T")
BASE_KERO = {"PIXEL_PATH": "/visit.gif", "MEASURE_REQUESTS": True, "IGNORE_WEB_ASSETS": True}


@pytest.fixture(autouse=True)
def kero_settings(settings: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """settings.KERO for this test; assign settings.KERO again to change it."""
    settings.KERO = {**BASE_KERO, "DB_PATH": tmp_path / "kero"}
    yield settings.KERO
    runtime.reset()


@pytest.fixture
def kero(kero_settings: dict[str, Any]) -> Kero:
    return get_kero()


@pytest.fixture
def browser() -> Client:
    """A test client that looks like Chrome and gets 500 responses instead of exceptions."""
    return Client(raise_request_exception=False, HTTP_USER_AGENT=CHROME_UA, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")


def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function`` in a thread of its own: the main thread may run an event loop
    (Playwright's sync API keeps one running while its browser fixture lives), and neither
    asyncio.run nor Django's sync-to-async bridge work in such a thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def run_async(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to its end (see :func:`in_thread`)."""

    async def main() -> T:
        return await awaitable

    return in_thread(asyncio.run, main())


def paths(kero: Kero) -> list[str]:
    return sorted(e.path for e in kero.query())
