"""Fixtures of the ASGI tests: requests through httpx's ASGITransport (the app runs in this
process, on a real asyncio loop), a browser's headers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import CHROME_UA

BROWSER = {"User-Agent": CHROME_UA, "Accept-Language": "en-GB,en;q=0.9", "Accept-Encoding": "gzip, br"}


def call(app: Any, *requests: tuple[str, str], headers: dict[str, str] | None = None, **options: Any) -> list[httpx.Response]:
    """Send ``(method, path)`` requests to the ASGI ``app`` in order, from 81.2.69.142; the
    responses, read to their end."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("81.2.69.142", 50000), **options)
        async with httpx.AsyncClient(transport=transport, base_url="http://example.com") as client:
            return [await client.request(method, path, headers={**BROWSER, **(headers or {})}) for method, path in requests]

    return asyncio.run(run())


def get(app: Any, *paths: str, **headers: str) -> list[httpx.Response]:
    return call(app, *[("GET", p) for p in paths], headers=headers)
