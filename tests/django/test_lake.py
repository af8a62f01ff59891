"""KERO = {"LAKE": ..., "LAKE_DATA_PATH": ...} puts a Django project on the lake: its requests
are read by another host, and its dashboard shows what the other hosts stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client

from kero_core import Kero
from kero_core.lake import LakeStore
from kero_django import get_kero
from tests.conftest import environ


def test_a_django_project_with_lake_settings_writes_to_and_reads_from_the_lake(
        settings: Any, kero_settings: dict[str, Any], browser: Client, tmp_path: Path, lake: str, lake_data: str) -> None:
    settings.KERO = {**kero_settings, "LAKE": lake, "LAKE_DATA_PATH": lake_data}
    with Kero(tmp_path / "other-host", lake=lake, lake_data_path=lake_data) as other:
        other.record_request(environ("/from-the-other-host"), status=200)
        assert other.flush(timeout=60)
        kero = get_kero()
        assert isinstance(kero.store, LakeStore)
        assert browser.get("/hello/lake").status_code == 200
        assert kero.flush(timeout=60)
        assert other.count(filters={"path": "/hello/lake"}) == 1
        assert kero.count() == 2  # this project's Kero reads the other host's page view too
