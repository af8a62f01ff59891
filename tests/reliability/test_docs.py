"""docs/reliability.md: every example runs and prints what its comment says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from tests.conftest import CHROME_UA

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BLOCK = re.compile(r"<!-- test: (?P<name>[\w-]+)(?:, after (?P<after>[\w-]+))? -->\n```python\n(?P<code>.*?)```", re.S)


def blocks() -> dict[str, re.Match[str]]:
    return {m["name"]: m for m in BLOCK.finditer(DOC.read_text())}


def run(name: str, namespace: dict[str, Any]) -> None:
    exec(compile(blocks()[name]["code"], f"{DOC.name}:{name}", "exec"), namespace)


def test_every_example_is_tested() -> None:
    assert {name: m["after"] for name, m in blocks().items()} == {"deployment": None, "health": "deployment"}
    assert DOC.read_text().count("```python") == len(blocks())


def test_deployment_then_health(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    run("deployment", namespace)
    kero, app = namespace["kero"], namespace["app"]
    try:
        client = Client(app)
        # Behind the one trusted proxy: its address, and the client's appended to a spoofed header.
        headers = {"User-Agent": CHROME_UA, "X-Forwarded-For": "6.6.6.6, 81.2.69.142"}
        assert client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}, buffered=True).data == b"hello"
        assert client.get("/_kero/").status_code == 401
        run("health", namespace)
        assert capsys.readouterr().out == "True 0\n"
        [event] = kero.query()
        assert event.path == "/" and event.visitor_id
    finally:
        kero.close()
