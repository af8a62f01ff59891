"""Fixtures of the lake tests: one real PostgreSQL server for the session (its catalog
databases made per test), a shared data folder, and Kero instances on them."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from kero_core import Kero
from tests.lake.postgres import PostgresServer

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's temporary folder: it is private to root (0700), and the server runs as
    # the unprivileged postgres user, who must reach its cluster folder.
    folder = Path(tempfile.mkdtemp(prefix="kero-postgres-"))
    folder.chmod(0o711)
    server = PostgresServer(folder / "cluster").init()
    try:
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def lake(postgres: PostgresServer) -> str:
    """A new, empty catalog database: its lake option."""
    return postgres.create_database(f"lake{next(_names)}")


@pytest.fixture
def lake_data(tmp_path: Path) -> str:
    """The shared folder of the lake's Parquet files."""
    folder = tmp_path / "lake-data"
    folder.mkdir()
    return str(folder)


@pytest.fixture
def make_host(tmp_path: Path, lake: str, lake_data: str) -> Iterator[Callable[..., Kero]]:
    """Kero instances on the same lake, each with its own local db_path (a "host")."""
    made: list[Kero] = []

    def make(name: str = "host", **options: Any) -> Kero:
        kero = Kero(tmp_path / name, lake=lake, lake_data_path=lake_data, **options)
        made.append(kero)
        return kero

    yield make
    for kero in made:
        kero.close()
