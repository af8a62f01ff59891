"""Every example of docs/dashboard.md, run: its URLs answer, its JSON has the real shape, its
lists (timeframes, dimensions, cards, headers) are the code's."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.dashboard import CSP, SECURITY_HEADERS
from kero_core.dashboard.cards import PANELS
from kero_core.dashboard.view import COMPARE, TIMEFRAMES
from kero_core.queries import DIMENSIONS
from kero_core.synthetic import generate
from tests.conftest import FakeClock
from tests.dashboard.conftest import NOW, at, get, open_copy, seed_once

DOC = (Path(__file__).resolve().parents[2] / "docs" / "dashboard.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.S)
URLS = [line for kind, body in BLOCKS if kind == "text" for line in body.splitlines() if line.startswith("/_kero/")]


DOC_GOALS = ["signup", "/thanks", "/docs/*"]
DOC_FUNNELS = {"Checkout": ["/pricing", "/signup", "signup"]}


def options(clock: FakeClock) -> dict[str, Any]:
    """The dashboard's fixture with the goals and funnels of the doc's example."""
    return {"clock": clock, "measure_requests": True, "retention": 400, "goals": DOC_GOALS, "funnels": DOC_FUNNELS}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of traffic and a note."""
    folder = seed_once(tmp_path_factory, options(FakeClock(NOW)), list(generate(400, days=2, seed=2, end=at())))
    with Kero(db_path=folder, **options(FakeClock(NOW))) as kero:
        kero.annotate("v1.4 deployed", at=at(hours=-3))
    return folder


@pytest.fixture
def kero(make_kero: Callable[..., Kero], clock: FakeClock, seeded: Path, tmp_path: Path) -> Kero:
    return open_copy(make_kero, seeded, tmp_path, options(clock))


def test_the_goals_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _ = [body for kind, body in BLOCKS if kind == "python"]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {"Kero": Kero}
    exec(code, scope)
    try:
        assert [g.text for g in scope["kero"].config.goals] == DOC_GOALS
        assert {f.name: [s.text for s in f.steps] for f in scope["kero"].config.funnels} == DOC_FUNNELS
    finally:
        scope["kero"].close()


def test_the_annotations_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup, code = [body for kind, body in BLOCKS if kind == "python"]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {"Kero": Kero, "datetime": datetime, "timezone": timezone}
    exec(setup, scope)
    try:
        exec(code, scope)
        assert [a.text for a in scope["kero"].annotations()] == ["Newsletter sent", "v1.4 deployed"]
    finally:
        scope["kero"].close()


def shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (first item of lists)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def test_the_doc_has_examples() -> None:
    assert len(URLS) == 20


@pytest.mark.parametrize("url", URLS)
def test_every_documented_url_answers(client: Client, url: str) -> None:
    answer = get(client, url)
    assert answer.status_code == 200, answer.data[:300]
    expected = "text/csv; charset=utf-8" if "format=csv" in url else "application/json" if "/api/" in url else "text/html; charset=utf-8"
    assert answer.headers["Content-Type"] == expected


def test_documented_json_has_the_real_shape(client: Client) -> None:
    stats, realtime = [json.loads(body) for kind, body in BLOCKS if kind == "json"]
    real = get(client, "/_kero/api/stats?period=7d&path!=/login&limit=5").get_json()
    assert shape(stats) == shape(real)
    assert shape(realtime) == shape(get(client, "/_kero/api/realtime").get_json())
    assert [f["id"] for f in real["figures"]] == ["visitors", "views", "views_per_visitor", "bounce_rate",
                                                  "visit_duration", "error_rate", "p50", "p95"]
    assert all(f"`{f['id']}`" in DOC for f in real["figures"])


def test_documented_csv_lines_exist(client: Client) -> None:
    example = next(body for kind, body in BLOCKS if kind == "text" and body.startswith("card,label"))
    real = list(csv.reader(io.StringIO(get(client, "/_kero/?period=7d&format=csv").data.decode())))
    documented = list(csv.reader(io.StringIO(example)))
    assert documented[0] == real[0]
    assert {(r[0], r[2]) for r in documented[1:]} <= {(r[0], r[2]) for r in real[1:]}


def test_documented_lists_are_the_codes() -> None:
    timeframes = DOC[DOC.index("## Timeframes"):DOC.index("## Comparison")]
    assert re.findall(r"^\| `(\w+)`", timeframes, re.M) == list(TIMEFRAMES)
    comparison = DOC[DOC.index("## Comparison"):DOC.index("## Filters in the URL")]
    assert re.findall(r"^\| `(\w+)`", comparison, re.M) == [key for key in COMPARE if key != "custom"]
    dimensions = re.search(r"Dimensions: (.*?)\.\n", DOC, re.S).group(1)
    assert sorted(re.findall(r"`(\w+)`", dimensions)) == sorted(DIMENSIONS)
    cards = re.search(r"`show=<card>` opens.*?: (.*?)\.\n", DOC, re.S).group(1)
    assert sorted(re.findall(r"`(\w+)`", cards)) == sorted(PANELS)
    headers = next(body for kind, body in BLOCKS if kind == "text" and body.startswith("Content-Security-Policy"))
    assert headers.splitlines() == [f"{name}: {value}" for name, value in SECURITY_HEADERS]
    assert f"Content-Security-Policy: {CSP}" in headers
