"""The ASGI middleware on real frameworks: FastAPI, Starlette, Litestar and Quart apps, each set
up as its documentation says, with the route template each one names (or "" where none)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from kero_core import Kero
from kero_core.asgi import KeroMiddleware
from tests.asgi.conftest import call, get


def recorded(kero: Kero) -> list[tuple[str, str, int]]:
    """Every request recorded: page views and the others (a POST)."""
    return sorted((e.path, e.route, e.status) for e in [*kero.query(), *kero.query("http_other")])


def fastapi_app(kero: Kero) -> Any:
    from fastapi import APIRouter, FastAPI, HTTPException

    app = FastAPI()
    router = APIRouter(prefix="/api")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "no such item")
        return {"item_id": item_id}

    @router.get("/users/{name}/posts")
    def posts(name: str) -> list[str]:  # a sync endpoint: FastAPI runs it in a thread
        return [name]

    sub = FastAPI()

    @sub.get("/status")
    async def status() -> str:
        return "ok"

    app.include_router(router)
    app.mount("/admin", sub)
    app.add_middleware(KeroMiddleware, kero=kero)
    return app


def test_fastapi_route_templates(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    app = fastapi_app(kero)
    responses = get(app, "/items/42", "/items/0", "/items/abc", "/api/users/ann/posts", "/admin/status", "/nowhere")
    assert [r.status_code for r in responses] == [200, 404, 422, 200, 200, 404]
    assert recorded(kero) == [
        ("/admin/status", "/admin/status", 200),
        ("/api/users/ann/posts", "/api/users/{name}/posts", 200),
        ("/items/0", "/items/{item_id}", 404),
        ("/items/42", "/items/{item_id}", 200),
        ("/items/abc", "/items/{item_id}", 422),
        ("/nowhere", "", 404),
    ]


def test_fastapi_wrapped_from_outside_and_a_failing_endpoint(make_kero: Callable[..., Kero]) -> None:
    """``app = KeroMiddleware(app, kero)`` works as well as add_middleware; an endpoint that
    raises is a 500 (Starlette's error middleware answers it, then re-raises)."""
    from fastapi import FastAPI

    inner = FastAPI()

    @inner.get("/boom/{n}")
    async def boom(n: int) -> None:
        raise RuntimeError("the endpoint failed")

    kero = make_kero()
    with pytest.raises(RuntimeError):
        get(KeroMiddleware(inner, kero), "/boom/1")
    assert recorded(kero) == [("/boom/1", "/boom/{n}", 500)]


def test_starlette_routes_mounts_and_405(make_kero: Callable[..., Kero]) -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi " + request.path_params.get("name", ""))

    kero = make_kero()
    app = Starlette(
        routes=[Route("/hello/{name}", hello), Mount("/blog", routes=[Route("/{slug:path}", hello)])],
        middleware=[Middleware(KeroMiddleware, kero=kero)],
    )
    responses = [*get(app, "/hello/ann", "/blog/2026/launch"), *call(app, ("POST", "/hello/ann"))]
    assert [r.status_code for r in responses] == [200, 200, 405]
    assert recorded(kero) == [("/blog/2026/launch", "/blog/{slug:path}", 200), ("/hello/ann", "/hello/{name}", 200),
                              ("/hello/ann", "/hello/{name}", 405)]


def test_litestar_route_templates(make_kero: Callable[..., Kero]) -> None:
    """Wrapped from outside: Litestar runs its own middleware list only for matched routes."""
    from litestar import Litestar, get as route
    from litestar.params import FromPath

    @route("/books/{book_id:int}")
    async def book(book_id: FromPath[int]) -> dict[str, int]:
        return {"book_id": book_id}

    kero = make_kero()
    app = KeroMiddleware(Litestar([book]), kero)
    assert [r.status_code for r in get(app, "/books/7", "/nowhere")] == [200, 404]
    assert recorded(kero) == [("/books/7", "/books/{book_id}", 200), ("/nowhere", "", 404)]


def test_quart_requests_are_recorded_without_a_route(make_kero: Callable[..., Kero]) -> None:
    """Quart keeps its URL rule on its request object, not in the ASGI scope: the path, the
    status and the duration are recorded, the route is not."""
    from quart import Quart

    quart = Quart(__name__)

    @quart.route("/hello/<name>")
    async def hello(name: str) -> str:
        return name

    kero = make_kero()
    quart.asgi_app = KeroMiddleware(quart.asgi_app, kero)  # type: ignore[method-assign]
    assert [r.status_code for r in get(quart, "/hello/ann")] == [200]
    assert recorded(kero) == [("/hello/ann", "", 200)]
