"""docs/django.md: every example runs and does what the text says, and the settings table is
the one derived from the core's option table (so a new option cannot go undocumented)."""

from __future__ import annotations

import ast
import re
import shlex
import sys
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

import kero_django
from kero_core import Kero
from kero_core.config import OPTIONS
from kero_django.conf import CORE_KEYS, DJANGO_DEFAULTS
from tests.conftest import CHROME_UA
from tests.doc_errors import error_examples
from tests.django.test_admin_and_tag import tags
from tests.django.conftest import run_async
from tests.django.test_dashboard import basic

DOC = Path(__file__).resolve().parents[2] / "docs" / "django.md"
BLOCK = re.compile(r"<!-- test: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def block(name: str) -> str:
    return {m["name"]: m["code"] for m in BLOCK.finditer(DOC.read_text())}[name]


def run_block(name: str, **namespace: Any) -> dict[str, Any]:
    namespace.setdefault("__name__", "docs_example")
    exec(compile(block(name), f"{DOC.name}:{name}", "exec"), namespace)
    return namespace


def kero_messages() -> list[str]:
    return [f"{m.id} {m.msg}" for m in run_checks() if m.id and m.id.startswith("kero.")]


def test_every_example_is_tested() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(m["name"] for m in BLOCK.finditer(DOC.read_text())) <= tested


def test_settings(settings: Any, tmp_path: Path, client: Client) -> None:
    ns = run_block("settings", BASE_DIR=tmp_path)
    assert "kero_django" in ns["INSTALLED_APPS"]
    middleware = ns["MIDDLEWARE"]
    assert middleware.index("kero_django.middleware.KeroMiddleware") == 0  # see test_middleware_position.py
    settings.KERO = ns["KERO"]
    assert kero_messages() == []
    client.get("/hello/docs", headers={"User-Agent": CHROME_UA})  # a browser: IGNORE_BOTS is on
    assert [e.path for e in kero_django.get_kero().query()] == ["/hello/docs"]
    assert (tmp_path / "kero" / "kero.duckdb").exists()


def test_urls(settings: Any, client: Client) -> None:
    urls = types.ModuleType("docs_urls")
    exec(compile(block("urls"), f"{DOC.name}:urls", "exec"), urls.__dict__)
    urls.urlpatterns = [p for p in urls.urlpatterns if p is not Ellipsis]
    settings.ROOT_URLCONF = urls
    assert reverse("kero:dashboard", kwargs={"subpath": ""}) == "/_kero/"
    assert client.get("/_kero/")["Location"] == "/accounts/login/?next=/_kero/"  # no admin here: LOGIN_URL
    assert "kero.W005" not in " ".join(kero_messages())


@pytest.mark.django_db
def test_auth(settings: Any, tmp_path: Path, client: Client, django_user_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.contrib.auth.models import Group

    myapp, module = types.ModuleType("myapp"), types.ModuleType("myapp.kero")
    ns = run_block("auth", BASE_DIR=tmp_path)
    module.can_view_stats = ns["can_view_stats"]
    monkeypatch.setitem(sys.modules, "myapp", myapp)
    monkeypatch.setitem(sys.modules, "myapp.kero", module)
    settings.KERO = ns["KERO"]
    assert kero_messages() == []
    analyst = django_user_model.objects.create_user("analyst", password="pw")
    analyst.groups.add(Group.objects.create(name="analytics"))
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(analyst)
    assert client.get("/_kero/").status_code == 200
    client.force_login(staff)
    assert client.get("/_kero/").status_code == 403


def test_basic(settings: Any, tmp_path: Path, client: Client) -> None:
    settings.KERO = run_block("basic", BASE_DIR=tmp_path)["KERO"]
    assert client.get("/_kero/").status_code == 401
    assert client.get("/_kero/", HTTP_AUTHORIZATION=basic("admin", "a long secret")).status_code == 200


def test_pixel(kero: Kero) -> None:
    [img] = tags(Template(block("pixel")).render(Context()), "img")
    assert img["src"] == kero.config.pixel_path == "/visit.gif"


def test_track(kero: Kero) -> None:
    ns = run_block("track")
    response = ns["signup"](RequestFactory().post("/signup", headers={"User-Agent": CHROME_UA}))
    assert response.content == b"Welcome!"
    [event] = kero.query(name="signup")
    assert (event.labels, event.browser, event.path) == ({"plan": "pro"}, "Chrome", "/signup")


def test_read(kero: Kero, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    client.get("/slow/", headers={"User-Agent": CHROME_UA})
    run_block("read")
    views, slowest = capsys.readouterr().out.splitlines()
    assert views == "1 page views"
    route, p95 = eval(slowest)[0]  # the printed list of (route, ms)
    assert route == "GET slow/" and p95 >= 123


def test_commands(kero: Kero, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    kero_django.track("docs")
    for line in block("commands").splitlines():
        words = shlex.split(line, comments=True)
        assert words[:3] == ["python", "manage.py", words[2]] and words[2].startswith("kero_")
        call_command(*words[2:])
    out = capsys.readouterr().out
    assert "Kero: Past 24 hours" in out and "Removed 0 events" in out and '"name": "docs"' in out
    assert (tmp_path / "events.csv").read_text().startswith("ts,name,")


def test_asgi(settings: Any, kero_settings: dict[str, Any]) -> None:
    """The wrapper answers the lifespan protocol and, at shutdown, writes what is buffered:
    with a one-minute interval, only that write can have stored the event."""
    settings.KERO = {**kero_settings, "FLUSH_INTERVAL": 60}
    application = run_block("asgi")["application"]
    kero_django.track("buffered")
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run_async(application({"type": "lifespan"}, receive, send))
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    with Kero(db_path=kero_settings["DB_PATH"]) as kero:
        assert kero.count(name="buffered") == 1


def test_testing(client: Client, settings: Any, tmp_path: Path) -> None:
    run_block("testing")["test_home_is_counted"](client, settings, tmp_path)


def _default(option: Any) -> str:
    if option.name == "db_path":
        return "required"
    if isinstance(option.default, timedelta):
        return f"{option.default.days} days"
    return f"`{option.default!r}`"


def test_settings_table_is_the_option_table() -> None:
    text = DOC.read_text()
    table = text[text.index("<!-- settings table"):text.index("<!-- end of settings table -->")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[3:]]
    assert [row[0].strip("`") for row in rows] == [*CORE_KEYS, *DJANGO_DEFAULTS]
    core = {o.name.upper(): o for o in OPTIONS}
    for key, default, meaning in rows[: len(CORE_KEYS)]:
        option = core[key.strip("`")]
        assert (default, meaning) == (_default(option), option.help)


def test_every_quoted_error_message_is_the_real_one(settings: Any, kero_settings: dict[str, Any]) -> None:
    examples = error_examples(DOC)
    assert examples
    for setting, message in examples:
        settings.KERO = {**kero_settings, **ast.literal_eval("{" + setting + "}")}
        assert message in [m.msg for m in run_checks(include_deployment_checks=False)]
