"""The ``kero`` commands on a lake: ``--lake``/``--lake-data-path`` (or KERO_LAKE and
KERO_LAKE_DATA_PATH) on a host with no local history read every host's events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from kero_core import Kero
from kero_core.lake.catalog import Catalog
from kero_core.lake.store import MAINTAINER_LOCK
from tests.cli.conftest import invoke
from tests.conftest import environ


@pytest.fixture
def written(make_host: Callable[..., Kero]) -> int:
    kero = make_host("app")
    for n in range(7):
        kero.record_request(environ(f"/page{n}"), status=200)
    assert kero.flush(timeout=60)
    return 7


def test_stats_of_a_lake_from_a_folder_without_history(written: int, lake: str, lake_data: str, tmp_path: Path) -> None:
    result = invoke("stats", "--db", tmp_path / "empty", "--lake", lake, "--lake-data-path", lake_data, "--timeframe", "24h")
    assert result.exit_code == 0, result.output
    assert "/page6" in result.output
    views = next(line for line in result.output.splitlines() if line.strip().startswith("Page views"))
    assert views.split()[2] == "7"


def test_the_lake_comes_from_the_environment_too(written: int, lake: str, lake_data: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERO_LAKE", lake)
    monkeypatch.setenv("KERO_LAKE_DATA_PATH", lake_data)
    result = invoke("export", "--db", tmp_path / "container", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert sum("/page" in line for line in result.output.splitlines()) == written


def test_without_a_lake_a_reading_command_still_wants_an_existing_database(tmp_path: Path) -> None:
    result = invoke("stats", "--db", tmp_path / "nothing")
    assert result.exit_code == 2 and "holds no Kero database" in result.output


def test_doctor_names_the_lake_without_its_password(written: int, lake: str, lake_data: str, tmp_path: Path) -> None:
    result = invoke("doctor", "--db", tmp_path / "host", "--lake", f"{lake} password=hunter2", "--lake-data-path", lake_data)
    assert "hunter2" not in result.output and "password=***" in result.output
    assert "lake reachable" in result.output and f"{written} events" in result.output
    assert "lake data: " in result.output and "Parquet file(s)" in result.output
    assert "last retention and compaction pass: under a minute ago" in result.output


def test_doctor_warns_when_no_host_has_maintained_the_lake_for_hours(
        written: int, make_host: Callable[..., Kero], lake: str, lake_data: str, tmp_path: Path) -> None:
    kero = make_host("app")
    with kero.read() as con:
        con.execute("DELETE FROM meta WHERE key = 'last_prune'")
        con.execute("INSERT INTO meta VALUES ('last_prune', ?)", [repr(time.time() - 3 * 3600)])
    catalog = Catalog(lake)
    try:  # a maintainer that is stuck: the doctor is not elected, so it does not maintain either
        with catalog.elected(MAINTAINER_LOCK) as won:
            assert won
            result = invoke("doctor", "--db", tmp_path / "host", "--lake", lake, "--lake-data-path", lake_data)
    finally:
        catalog.close()
    assert "warning  last retention and compaction pass: 3 hours ago" in result.output
    assert "no host has maintained the lake since" in result.output
