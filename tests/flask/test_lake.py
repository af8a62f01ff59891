"""KERO_LAKE and KERO_LAKE_DATA_PATH in app.config put a Flask app on the lake: its requests are
read by another host, and its dashboard shows what the other hosts stored."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from kero_core import Kero as CoreKero
from kero_core.lake import LakeStore
from kero_flask import Kero
from tests.conftest import CHROME_UA, environ


def test_a_flask_app_with_kero_lake_writes_to_and_reads_from_the_lake(tmp_path: Path, lake: str, lake_data: str) -> None:
    app = Flask(__name__)
    app.config.update(KERO_DB_PATH=str(tmp_path / "app"), KERO_LAKE=lake, KERO_LAKE_DATA_PATH=lake_data,
                      KERO_ADMIN_USER="admin", KERO_ADMIN_PASSWORD="secret")
    app.add_url_rule("/hello", "hello", lambda: "hello")
    kero = Kero(app)
    with CoreKero(tmp_path / "other-host", lake=lake, lake_data_path=lake_data) as other:
        other.record_request(environ("/from-the-other-host"), status=200)
        assert other.flush(timeout=60)
        try:
            assert isinstance(kero.core.store, LakeStore)
            client = app.test_client()
            assert client.get("/hello", headers={"User-Agent": CHROME_UA}).data == b"hello"
            assert kero.flush(timeout=60)
            assert other.count(filters={"path": "/hello"}) == 1
            api = client.get("/_kero/api/stats?period=today", auth=("admin", "secret")).get_json()
            assert next(f for f in api["figures"] if f["id"] == "views")["value"] == 2
        finally:
            kero.close()
