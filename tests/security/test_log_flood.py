"""Logs without floods (issue 14, finding 5): a pixel request with ``Referer: http://[<invalid>]/``
logged a full traceback each time (2,000 requests: +17.6 MB of log). Now bad input is reported in
one line without a traceback, and a repeated problem at most once per interval with a count."""

from __future__ import annotations

import logging
from typing import Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.logs import Problems
from kero_core.wsgi import KeroMiddleware
from tests.conftest import FakeClock
from tests.reliability.host import ok_app
from tests.reliability.servers import Server
from tests.security.conftest import raw_request

BAD_REFERER = "http://[<invalid>]/"


def test_a_flood_of_bad_referers_over_http_adds_one_line(servers: dict[str, Server]) -> None:
    server = servers["wsgi"]
    before = len(server.log())
    statuses = {raw_request(server.url, "GET", "/visit.gif", {"Referer": BAD_REFERER}).status for _ in range(300)}
    added = server.log()[before:]
    print(f"\n[log flood] 300 pixel requests with a bad Referer: statuses {statuses}, log +{len(added)} bytes:\n{added}")
    assert statuses == {200}
    assert "Traceback" not in added and added.count("could not record a pixel request") <= 1
    assert len(added) < 1_000


def test_a_repeated_problem_is_logged_once_per_interval_with_a_count(
        make_kero: Callable[..., Kero], caplog: pytest.LogCaptureFixture, clock: FakeClock) -> None:
    kero = make_kero(pixel_path="/visit.gif")
    kero.problems = Problems(clock=clock)
    client = Client(KeroMiddleware(ok_app, kero))
    with caplog.at_level(logging.DEBUG, logger="kero"):
        for _ in range(50):
            client.get("/visit.gif", headers={"Referer": BAD_REFERER})
        kero.track("labels", ["not", "a", "mapping"])  # another problem: its own line
        clock.advance(61)
        client.get("/visit.gif", headers={"Referer": BAD_REFERER})
    lines = [r.getMessage() for r in caplog.records]
    print("\n".join(lines))
    assert [r.exc_info for r in caplog.records] == [None, None, None]
    assert "could not record a pixel request: ValueError" in lines[0]
    assert "could not track event 'labels': TypeError: labels must be a mapping, got list" in lines[1]
    assert "could not record a pixel request" in lines[2] and "(49 more in the last 61 s)" in lines[2]


def test_an_unexpected_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    problems = Problems()
    with caplog.at_level(logging.DEBUG, logger="kero"):
        try:
            raise RuntimeError("a bug in Kero")
        except RuntimeError as exc:
            problems.report("bug", "kero: could not record a request", exc)
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
