"""README.md stays true: its Python examples run, its `kero` commands run, every option of the
core is in its table, and the files it links to exist."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kero_core.config import OPTION_NAMES
from tests.doc_errors import DOCS, error_examples, quoted_messages

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"<!-- readme-test: (?P<name>\w+)(?:, after (?P<after>\w+))? -->\n```python\n(?P<code>.*?)```", re.S)
KERO = Path(sys.executable).with_name("kero")


def run_block(name: str) -> dict[str, Any]:
    found = {m["name"]: m for m in BLOCK.finditer(README)}[name]
    namespace: dict[str, Any] = run_block(found["after"]) if found["after"] else {"__name__": "readme"}
    exec(compile(found["code"], f"README.md:{name}", "exec"), namespace)
    return namespace


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_wsgi_example_tracks_and_protects_the_dashboard() -> None:
    from werkzeug.test import Client

    namespace = run_block("wsgi")
    client = Client(namespace["app"])
    assert client.get("/hello", buffered=True).data == b"hello"
    assert client.get("/_kero/").status_code == 401
    assert client.get("/_kero/", headers={"Authorization": "Basic YWRtaW46c2VjcmV0"}).status_code == 200
    kero = namespace["kero"]
    assert [e.path for e in kero.query()] == ["/hello"]
    kero.close()


def test_asgi_example_tracks_and_protects_the_dashboard() -> None:
    from fastapi.testclient import TestClient

    namespace = run_block("asgi")
    app, kero = namespace["app"], namespace["kero"]

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    client = TestClient(app)
    assert client.get("/items/3").json() == {"item_id": 3}
    assert client.get("/_kero/").status_code == 401
    assert client.get("/_kero/", auth=("admin", "secret")).status_code == 200
    assert [(e.path, e.route) for e in kero.query()] == [("/items/3", "/items/{item_id}")]
    kero.close()


def test_api_example_runs() -> None:
    namespace = run_block("api")
    assert namespace["kero"].pipeline._closed


def test_flask_example() -> None:
    namespace = run_block("flask")
    app = namespace["app"]
    assert app.extensions["kero"] is namespace["kero"]
    assert app.test_client().get("/_kero/").status_code == 401
    namespace["kero"].core.close()


def test_every_option_is_in_the_table() -> None:
    assert [name for name in OPTION_NAMES if f"| `{name}` |" not in README] == []


def test_linked_files_exist() -> None:
    links = re.findall(r"\]\(((?:docs|benchmarks)/[^)]+)\)", README)
    assert links and [link for link in links if not (ROOT / link).exists()] == []


def kero_commands() -> list[list[str]]:
    block = README[README.index("## The `kero` command"):]
    block = block[block.index("```sh\n") + 6 : block.index("```", block.index("```sh\n") + 6)]
    return [shlex.split(line.split("#")[0]) for line in block.splitlines() if line.strip()]


def test_kero_commands_of_the_readme_run(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        '203.0.113.9 - - [27/Nov/2026:10:00:00 +0000] "GET /pricing HTTP/1.1" 200 512 '
        '"https://www.google.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"\n'
    )
    commands = kero_commands()
    assert {c[1] for c in commands} == {"demo", "import", "serve", "stats", "export", "prune", "doctor", "seed"}
    for command in sorted(commands, key=lambda c: c[1] != "seed"):  # seed first: the others need data
        args = [a for a in command[1:] if not a.startswith("/var/log")]
        if args[0] == "import":
            args.append(str(log))
        if args[0] in ("demo", "serve"):  # servers: check that the command line is valid
            args.append("--help")
        result = subprocess.run([str(KERO), *args], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (command, result.stderr)
    assert (tmp_path / "events.parquet").stat().st_size > 0


def test_every_quoted_error_message_is_a_tested_example() -> None:
    """A message quoted anywhere in the docs is the MESSAGE of an "`INPUT` gives the error `MESSAGE`"
    example, which tests/flask/test_docs.py and tests/django/test_docs.py run."""
    for doc in DOCS:
        examples = {message for _, message in error_examples(doc)}
        assert [m for m in quoted_messages(doc) if m not in examples] == [], doc.name
    assert {doc.name for doc in DOCS if error_examples(doc)} == {"flask.md", "django.md"}
