"""SQL injection through everything a caller or a dashboard visitor controls: filter values are
bound parameters (a payload matches only the event whose path *is* that payload), and
dimensions, metrics, periods, dates, limits and controls are checked against fixed lists (400 on
the dashboard and its API, ValueError in Python). The database is intact afterwards."""

from __future__ import annotations

import base64
from typing import Callable
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.conftest import environ
from tests.reliability.host import ok_app

PAYLOADS = [
    "' OR 1=1 --", "'; DROP TABLE events; --", '") OR ("1"="1', "1; DELETE FROM events", "%' OR '%'='",
    "\\'; --", "' UNION SELECT name, 1 FROM ingested --", "x' || (SELECT value FROM meta LIMIT 1) || '",
    "events WHERE 1=1 --", "$$; DROP TABLE events; $$",
]
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}


@pytest.fixture
def kero(make_kero: Callable[..., Kero]) -> Kero:
    kero = make_kero(measure_requests=True)
    for payload in PAYLOADS:
        kero.record_request(environ("/" + payload), status=200)
    for i in range(10):
        kero.record_request(environ(f"/plain/{i}"), status=200)
    return kero


def intact(kero: Kero) -> bool:
    with kero.read() as con:
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return tables >= {"events", "ingested", "meta"} and kero.count() == len(PAYLOADS) + 10


def test_python_api_binds_values_and_checks_names(kero: Kero) -> None:
    for payload in PAYLOADS:
        assert kero.count(filters={"path": "/" + payload}) == 1
        assert kero.count(filters={"path": payload}) == 0
        assert kero.count(filters={"path!=": "/" + payload}) == len(PAYLOADS) + 9
        assert kero.count(name=payload) == 0
        assert kero.top("path", filters={"referrer": payload}) == []
        for bad in ({"dimension": payload}, {"metric": payload}, {"filters": {payload: "x"}}, {"start": payload}):
            call = {"dimension": "path", **bad}
            with pytest.raises(ValueError):
                kero.top(call.pop("dimension"), **call)
    assert intact(kero)


def test_dashboard_and_api_reject_or_bind_every_parameter(kero: Kero) -> None:
    client = Client(KeroMiddleware(ok_app, kero, users={"admin": "pw"}))
    statuses: dict[str, set[int]] = {}
    for payload in PAYLOADS:
        p = quote(payload, safe="")
        cases = {
            "filter value": (f"/_kero/?period=today&path={quote('/' + payload, safe='')}", 200),
            "negated filter value": (f"/_kero/api/stats?period=today&path!={p}", 200),
            "filter name": (f"/_kero/?{p}=1", 400),
            "api filter name": (f"/_kero/api/stats?{p}=1", 400),
            "period": (f"/_kero/?period={p}", 400),
            "custom dates": (f"/_kero/?from={p}&to=2026-11-10", 400),
            "csv limit": (f"/_kero/?format=csv&limit={p}", 400),
            "format": (f"/_kero/?format={p}", 400),
            "card": (f"/_kero/?show={p}", 400),
            "status filter": (f"/_kero/?status={p}", 400),
        }
        for case, (url, expected) in cases.items():
            answer = client.get(url, headers=AUTH)
            statuses.setdefault(case, set()).add(answer.status_code)
            assert answer.status_code == expected, (case, payload, answer.status_code, answer.data[:200])
    api = client.get(f"/_kero/api/stats?period=today&path={quote('/' + PAYLOADS[1], safe='')}", headers=AUTH).get_json()
    print(f"\n[injection] {len(PAYLOADS)} payloads x {len(statuses)} parameters -> {statuses}")
    views = next(f["value"] for f in api["figures"] if f["id"] == "views")
    assert views == 1  # bound: it matched the one page whose path is the payload
    assert intact(kero)
