"""docs/flask.md: every example runs and does what the text says, and the settings table is
the one derived from the core's option table (so a new option cannot go undocumented)."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import pytest
from flask import Flask

from kero_core.config import OPTIONS, KeroConfigError
from kero_flask.settings import KEYS, _flask_default, key_of
from tests.conftest import CHROME_UA
from tests.doc_errors import error_examples
from tests.flask.scenario import basic

DOC = Path(__file__).resolve().parents[2] / "docs" / "flask.md"
BLOCK = re.compile(r"<!-- test: (?P<name>[\w-]+)(?:, after (?P<after>[\w-]+))? -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
HEADERS = {"User-Agent": CHROME_UA}
Namespace = dict[str, Any]


def blocks() -> dict[str, re.Match[str]]:
    return {m["name"]: m for m in BLOCK.finditer(DOC.read_text())}


def run_block(name: str) -> Namespace:
    """Execute a python example (after the one it continues, if any) in a fresh namespace."""
    found = blocks()[name]
    namespace: Namespace = run_block(found["after"]) if found["after"] else {"__name__": "docs_example"}
    exec(compile(found["code"], f"{DOC.name}:{name}", "exec"), namespace)
    return namespace


@pytest.fixture(autouse=True)
def in_tmp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples use relative paths ("./kero"): run them in a temporary folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERO_ADMIN_USER", raising=False)
    monkeypatch.delenv("KERO_ADMIN_PASSWORD", raising=False)


@pytest.fixture
def close_cores() -> Any:
    """Apps the examples made; their cores are closed after the test."""
    apps: list[Flask] = []
    yield apps
    for app in apps:
        with app.app_context():
            app.extensions["kero"].close()


def check_quickstart(ns: Namespace, apps: list[Flask]) -> None:
    app, kero = ns["app"], ns["kero"]
    apps.append(app)
    client = app.test_client()
    assert client.get("/nowhere", headers=HEADERS, buffered=True).status_code == 404
    assert client.get("/_kero/").status_code == 401
    assert client.get("/_kero/", headers={"Authorization": basic("admin", "secret")}).status_code == 200
    assert client.get("/visit.gif", headers={**HEADERS, "Referer": "https://example.com/cached"}).status_code == 200
    with app.app_context():
        assert sorted((e.path, e.status) for e in kero.query()) == [("/cached", 200), ("/nowhere", 404)]
    assert Path("kero", "kero.duckdb").exists()  # KERO_DB_PATH="./kero"


def check_factory(ns: Namespace, apps: list[Flask], tmp_path: Path) -> None:
    first, second = (ns["create_app"]({"KERO_DB_PATH": str(tmp_path / db)}) for db in ("a", "b"))
    apps += [first, second]
    for app in (first, second):
        app.test_client().get("/health", headers=HEADERS, buffered=True)
    first.test_client().get("/page", headers=HEADERS, buffered=True)
    with first.app_context():
        assert [e.path for e in ns["kero"].query()] == ["/page"]
    with second.app_context():
        assert ns["kero"].count() == 0
    assert first.config["KERO_DB_PATH"] == str(tmp_path / "a")


def check_auth(ns: Namespace, apps: list[Flask]) -> None:
    app = ns["app"]
    apps.append(app)
    client = app.test_client()
    assert client.get("/_kero/").status_code == 403
    with client.session_transaction() as session:
        session["role"] = "admin"
    assert client.get("/_kero/").status_code == 200


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources += [str(v) for k, v in attrs if k == "src"]


def check_pixel(html: str, apps: list[Flask]) -> None:
    quickstart = run_block("quickstart")
    app, kero = quickstart["app"], quickstart["kero"]
    apps.append(app)
    images = _Images()
    images.feed(html)
    [src] = images.sources
    reply = app.test_client().get(src, headers={**HEADERS, "Referer": "https://example.com/landing"})
    assert reply.data.startswith(b"GIF89a")
    with app.app_context():
        assert [e.path for e in kero.query()] == ["/landing"]


def check_track(ns: Namespace, apps: list[Flask]) -> None:
    app, kero = ns["app"], ns["kero"]
    apps.append(app)
    assert app.test_client().post("/signup", headers=HEADERS, buffered=True).data == b"Welcome!"
    with app.app_context():
        [event] = kero.query(name="signup")
    assert event.labels == {"plan": "pro"} and event.browser == "Chrome"


def check_read(ns: Namespace, apps: list[Flask], output: str) -> None:
    apps.append(ns["app"])
    assert output == "0 page views\n[]\n"


def check_testing(ns: Namespace, apps: list[Flask]) -> None:
    apps.append(ns["app"])  # the example asserts the count itself


def test_every_example_is_checked(close_cores: list[Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    found = blocks()
    fenced = re.findall(r"^```(\w+)$", DOC.read_text(), re.M)
    assert len(found) == len([lang for lang in fenced if lang != "sh"])  # every non-shell block is marked
    checks: dict[str, Callable[[], None]] = {
        "quickstart": lambda: check_quickstart(run_block("quickstart"), close_cores),
        "factory": lambda: check_factory(run_block("factory"), close_cores, tmp_path),
        "auth": lambda: check_auth(run_block("auth"), close_cores),
        "pixel": lambda: check_pixel(found["pixel"]["code"], close_cores),
        "track": lambda: check_track(run_block("track"), close_cores),
        "read": lambda: check_read(run_block("read"), close_cores, capsys.readouterr().out),
        "testing": lambda: check_testing(run_block("testing"), close_cores),
    }
    assert sorted(found) == sorted(checks)
    for name, check in checks.items():
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)  # each example gets its own ./kero
        capsys.readouterr()
        check()


def test_every_quoted_error_message_is_the_real_one(make_app: Callable[..., Flask]) -> None:
    examples = error_examples(DOC)
    assert examples
    for setting, message in examples:
        key, _, value = (part.strip() for part in setting.partition("="))
        with pytest.raises(KeroConfigError) as raised:
            make_app(**{key: ast.literal_eval(value)})
        assert str(raised.value) == message


def settings_table() -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for option in OPTIONS:
        default = "required" if option.name == "db_path" else f"`{_flask_default(option)!r}`"
        rows.append(f"| `{key_of(option.name)}` | {default} | {option.help} |")
    rows.append("| `KERO_ADMIN_USER` | the `KERO_ADMIN_USER` environment variable | User name of the dashboard's HTTP Basic auth. |")
    rows.append("| `KERO_ADMIN_PASSWORD` | the `KERO_ADMIN_PASSWORD` environment variable | Its password; set both or neither. |")
    return "\n".join(rows) + "\n"


def test_settings_table_is_derived_from_the_option_table() -> None:
    table = settings_table()
    assert table in DOC.read_text(), "docs/flask.md's settings table is out of date; it should be:\n" + table
    assert re.findall(r"^\| `(KERO_\w+)`", table, re.M) == list(KEYS)
