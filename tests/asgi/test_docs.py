"""docs/asgi.md stays true: every Python example runs and does what the text says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.asgi.conftest import get

DOC = Path(__file__).resolve().parents[2] / "docs" / "asgi.md"
BLOCK = re.compile(r"<!-- test: (?P<name>\w+)(?:, after (?P<after>\w+))? -->\n```python\n(?P<code>.*?)```", re.S)
BLOCKS = {m["name"]: m for m in BLOCK.finditer(DOC.read_text())}


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples use db_path="./kero"


def run_block(name: str) -> dict[str, Any]:
    found = BLOCKS[name]
    namespace: dict[str, Any] = run_block(found["after"]) if found["after"] else {"__name__": "docs"}
    exec(compile(found["code"], f"docs/asgi.md:{name}", "exec"), namespace)
    return namespace


def test_every_python_block_is_marked_and_tested() -> None:
    fenced = re.findall(r"^```python$", DOC.read_text(), re.M)
    assert len(fenced) == len(BLOCKS) and set(BLOCKS) == {"fastapi", "plain", "auth", "track", "testing"}


def test_fastapi() -> None:
    ns = run_block("fastapi")
    responses = get(ns["app"], "/items/42", "/_kero/")
    assert [r.status_code for r in responses] == [200, 401]
    assert [(e.path, e.route) for e in ns["kero"].query()] == [("/items/42", "/items/{item_id}")]
    ns["kero"].close()


def test_plain() -> None:
    ns = run_block("plain")
    [page, pixel] = get(ns["app"], "/hello", "/visit.gif")
    assert (page.content, pixel.headers["content-type"]) == (b"hello", "image/gif")
    assert [e.path for e in ns["kero"].query()] == ["/hello"]
    ns["kero"].close()


def test_auth() -> None:
    ns = run_block("auth")
    assert [r.status_code for r in get(ns["app"], "/_kero/")] == [403]
    assert [r.status_code for r in get(ns["app"], "/_kero/", **{"X-Admin-Token": "s3cret"})] == [200]
    ns["kero"].close()


def test_track() -> None:
    from fastapi.testclient import TestClient

    ns = run_block("track")
    assert TestClient(ns["app"]).post("/signup").json() == {"ok": True}
    [event] = ns["kero"].query(name="signup")
    assert event.labels == {"plan": "pro"}
    ns["kero"].close()


def test_testing() -> None:
    ns = run_block("testing")
    ns["test_item_page_is_counted"]()
    ns["kero"].close()
