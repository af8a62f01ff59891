"""Log forging: request data carrying CR/LF must never start a line of its own in Kero's log
(a fake entry a log reader would believe). Every path that logs is exercised with hostile
requests (tracking, the pixel, the dashboard and its bad requests, custom events, rejected
events, a disk that refuses the spool), and the formatted output is searched."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.conftest import environ
from tests.reliability.host import ok_app

FORGED = "FORGED kero: admin logged in"
CRLF = [f"\r\n{FORGED}", f"\n{FORGED}", f"\r{FORGED}", f"\u2028{FORGED}", f"\x85{FORGED}"]
AUTH = "Basic " + base64.b64encode(b"admin:pw").decode()


def test_request_data_never_starts_a_log_line(make_kero: Callable[..., Kero], tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    kero = make_kero(pixel_path="/visit.gif", geoip_db=None, flush_interval=3600)
    app = KeroMiddleware(ok_app, kero, users={"admin": "pw"})
    with caplog.at_level(logging.DEBUG, logger="kero"):
        for bad in CRLF:
            raw = bad.encode("utf-8").decode("latin-1")  # as a WSGI server passes header bytes
            env = environ("/p" + raw, QUERY_STRING="utm_source=" + quote(bad), HTTP_USER_AGENT=raw, HTTP_REFERER="https://a.b/" + raw,
                          HTTP_X_FORWARDED_FOR=raw, HTTP_HOST=raw, REQUEST_METHOD="GET" + raw)
            b"".join(app(env, lambda *a: None))
            Client(app).get("/visit.gif", headers={"Referer": "https://a.b/" + quote(bad)})
            for query in (f"period={quote(bad)}", f"{quote(bad)}=1", f"path={quote(bad)}", f"from={quote(bad)}&to=x"):
                Client(app).get(f"/_kero/?{query}", headers={"Authorization": AUTH})
                Client(app).get(f"/_kero/api/stats?{query}", headers={"Authorization": AUTH})
            kero.track(bad, {bad: bad})
            kero.track(bad, [bad])  # not a mapping: rejected, counted and logged
        monkeypatch.setattr(kero.store, "spool", _refuse_with(CRLF[0]))
        kero.flush(timeout=1)  # the spool refuses: logged, with the error's own text
        monkeypatch.undo()
        kero.flush(timeout=5)
    text = caplog.text
    formatted = "\n".join(logging.Formatter("%(levelname)s %(name)s %(message)s").format(r) for r in caplog.records)
    print(f"\n[log forging] {len(caplog.records)} kero log records from {len(CRLF)} kinds of line break; "
          f"lines starting with the forged text: {sum(1 for line in formatted.splitlines() if line.startswith('FORGED'))}")
    assert len(caplog.records) >= 2 and kero.dropped == len(CRLF)
    for output in (text, formatted):
        assert not any(line.lstrip().startswith("FORGED") for line in output.splitlines()), output


def _refuse_with(message: str) -> Callable[..., Any]:
    def spool(table: Any) -> Path:
        raise OSError(28, "No space left on device" + message)

    return spool
