"""A user's own tests: a request made with Starlette's TestClient or httpx's ASGITransport is
recorded exactly once, by the time the client returns the response."""

from __future__ import annotations

import asyncio
from typing import Callable

import httpx
from starlette.testclient import TestClient

from kero_core import Kero
from tests.asgi.test_frameworks import fastapi_app


def test_starlette_test_client_with_and_without_with(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    app = fastapi_app(kero)
    assert TestClient(app).get("/items/1").status_code == 200
    assert kero.count() == 1
    with TestClient(app) as client:  # runs the lifespan as well
        assert client.get("/items/2").json() == {"item_id": 2}
        assert kero.count() == 2
    assert kero.count() == 2


def test_httpx_asgi_transport(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    app = fastapi_app(kero)

    async def visit() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return (await client.get("/items/3")).status_code

    assert asyncio.run(visit()) == 200
    assert [(e.path, e.route) for e in kero.query()] == [("/items/3", "/items/{item_id}")]
