"""A small FastAPI site with Kero: HTML pages, items with path parameters, a JSON API, and a
sign-up (JSON) that records a custom event from a background task.

    uvicorn app:app                              (from this folder)
    python example_sites/fastapi_site/run.py     (from the repository root: seeds a demo week, serves)

Kero's folder is ``KERO_DB_PATH`` (default: ``kero_data/`` here); the dashboard, at ``/_kero/``,
opens with ``KERO_ADMIN_USER`` / ``KERO_ADMIN_PASSWORD`` (with neither it answers 403)."""

from __future__ import annotations

import html
import os
from pathlib import Path

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from kero_core import Kero
from kero_core.asgi import KeroMiddleware

HERE = Path(__file__).resolve().parent
ITEMS = {1: "Notebook", 2: "Fountain pen", 3: "Desk lamp", 4: "Coffee grinder"}
PLANS = ("hobby", "pro", "team")

kero = Kero(
    db_path=os.environ.get("KERO_DB_PATH") or HERE / "kero_data",
    measure_requests=True,
    ignore_web_assets=True,
    title="FastAPI site stats",
)
app = FastAPI(title="Kero FastAPI example")
admin = {os.environ["KERO_ADMIN_USER"]: os.environ["KERO_ADMIN_PASSWORD"]} if os.environ.get("KERO_ADMIN_PASSWORD") else {}
app.add_middleware(KeroMiddleware, kero=kero, users=admin)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    nav = '<a href="/">Home</a> · <a href="/items/1">Items</a> · <a href="/pricing">Pricing</a> · <a href="/api/items">API</a> · <a href="/_kero/">Stats</a>'
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><nav>{nav}</nav><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


@app.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    links = "".join(f'<li><a href="/items/{i}">{html.escape(name)}</a></li>' for i, name in ITEMS.items())
    return page("Home", f"<ul>{links}</ul>")


@app.get("/items/{item_id}", response_class=HTMLResponse)
async def item(item_id: int) -> HTMLResponse:
    if item_id not in ITEMS:
        return page("Not found", "<p>No such item.</p>", 404)
    return page(ITEMS[item_id], f'<p>Item {item_id}. <a href="/items/{item_id % len(ITEMS) + 1}">Next</a></p>')


@app.get("/pricing", response_class=HTMLResponse)
async def pricing() -> HTMLResponse:
    plans = ", ".join(PLANS)
    return page("Pricing", f"<p>Plans: {plans}. Sign up with <code>POST /api/signup {{\"plan\": \"pro\"}}</code>.</p>")


class Signup(BaseModel):
    plan: str


@app.post("/api/signup")
async def signup(body: Signup, request: Request, background: BackgroundTasks) -> dict[str, str]:
    if body.plan not in PLANS:
        raise HTTPException(422, f"plan must be one of {', '.join(PLANS)}")
    # After the response: a custom event, enriched from the request like a page view.
    background.add_task(kero.track, "signup", {"plan": body.plan}, request=request)
    return {"signed_up": body.plan}


@app.get("/api/items")
async def api_items() -> list[dict[str, object]]:
    return [{"id": i, "name": name} for i, name in ITEMS.items()]


@app.get("/api/items/{item_id}")
def api_item(item_id: int) -> dict[str, object]:  # a sync endpoint: FastAPI runs it in a thread
    if item_id not in ITEMS:
        raise HTTPException(404, "no such item")
    return {"id": item_id, "name": ITEMS[item_id]}
