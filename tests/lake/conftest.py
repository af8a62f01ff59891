"""Fixtures of the lake tests: Kero "hosts" on one lake, and a local S3 server. The PostgreSQL
server, its catalog databases and the shared data folder are in tests/conftest.py (the Flask and
Django lake tests use them too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from kero_core import Kero
from tests.conftest import free_port
from tests.reliability.load import wait_until


@pytest.fixture
def make_host(make_kero: Callable[..., Kero], tmp_path: Path, lake: str, lake_data: str) -> Callable[..., Kero]:
    """Kero instances on the same lake, each with its own local db_path (a "host"); closed
    after the test, as make_kero's are."""

    def make(name: str = "host", **options: Any) -> Kero:
        return make_kero(db_path=tmp_path / name, lake=lake, lake_data_path=lake_data, **options)

    return make


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[str]:
    """A local S3-compatible server (``moto_server``) on 127.0.0.1: its endpoint URL."""
    port = free_port()
    with open(tmp_path / "moto.log", "wb") as log:
        server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1",
                                   "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return requests.get(endpoint, timeout=2).status_code < 500
            except requests.RequestException:
                return False

        assert wait_until(up, timeout=60, step=0.2), (tmp_path / "moto.log").read_text()
        yield endpoint
    finally:
        server.terminate()
        server.wait(30)
