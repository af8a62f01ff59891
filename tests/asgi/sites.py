"""ASGI apps the server tests run, configured from the environment: ``KERO_DB_PATH`` (the folder)
``KERO_FLUSH_INTERVAL`` (60 in the shutdown tests, so that only the write at the server's
stop can have stored the events) and ``KERO_TEST_USERS`` (``name:password`` for the dashboard). Each is set up exactly as the documentation says: the
middleware line and nothing else.

- ``fastapi_app``: FastAPI with a path parameter, a slow route and a failing one;
- ``plain_app``: a bare ASGI callable that knows no lifespan (it raises on that scope);
- ``bare_app``: ``plain_app`` without Kero, the baseline for how a server stops."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI

from kero_core import Kero
from kero_core.asgi import KeroMiddleware


def _kero() -> Kero:
    return Kero(db_path=os.environ["KERO_DB_PATH"], flush_interval=float(os.environ.get("KERO_FLUSH_INTERVAL", "60")))


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise ValueError(f"only http, not {scope['type']}")
    if scope["path"] == "/slow":
        await asyncio.sleep(float(os.environ.get("KERO_TEST_SLOW", "1.5")))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


fastapi_app = FastAPI()


@fastapi_app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@fastapi_app.get("/slow")
async def slow() -> str:
    await asyncio.sleep(float(os.environ.get("KERO_TEST_SLOW", "1.5")))
    return "slow"


@fastapi_app.get("/sync/{name}")
def sync_view(name: str) -> str:  # FastAPI runs it in a thread
    return name


if os.environ.get("KERO_DB_PATH"):  # the servers' processes; importing the module needs none
    fastapi_app.add_middleware(KeroMiddleware, kero=_kero())
    users = dict([os.environ["KERO_TEST_USERS"].split(":", 1)]) if os.environ.get("KERO_TEST_USERS") else {}
    plain_app = KeroMiddleware(bare_app, _kero(), users=users)
