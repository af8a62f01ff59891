"""Kero's DuckDB statements stop searching sys.path for pandas where it is not installed
(kero_core.pandas_probe), and the host app's own imports are left as they were."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Iterator

import pytest

from kero_core import Kero, pandas_probe, rollups

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pandas") is not None,
                                reason="pandas is installed: DuckDB imports it once and the probe is not installed")


class Counter:
    """A finder after the probe's: counts the searches for pandas that reach it."""

    def __init__(self) -> None:
        self.count = 0

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas":
            self.count += 1


@pytest.fixture
def counter() -> Iterator[Counter]:
    found = Counter()
    position = next((i + 1 for i, f in enumerate(sys.meta_path) if isinstance(f, pandas_probe.NoPandasForKero)), 0)
    sys.meta_path.insert(position, found)
    yield found
    sys.meta_path.remove(found)


def test_kero_installs_the_probe_once(tmp_path: Path) -> None:
    with Kero(db_path=tmp_path / "a"), Kero(db_path=tmp_path / "b"):
        assert sum(isinstance(f, pandas_probe.NoPandasForKero) for f in sys.meta_path) == 1
    assert pandas_probe.install() is True


def test_keros_statements_search_no_pandas(tmp_path: Path, counter: Counter) -> None:
    with Kero(db_path=tmp_path) as kero:
        with kero.read() as con:
            for _ in range(3):
                assert rollups.events_kept_from(con) is None  # a statement binding one parameter
        assert counter.count == 0
        probes = [f for f in sys.meta_path if isinstance(f, pandas_probe.NoPandasForKero)]
        for finder in probes:  # without the probe, each of the statements searches twice
            sys.meta_path.remove(finder)
        try:
            with kero.read() as con:
                for _ in range(3):
                    rollups.events_kept_from(con)
        finally:
            sys.meta_path[:0] = probes
        assert counter.count >= 6  # two per statement, and those of opening the session


def test_the_host_apps_import_of_pandas_takes_the_usual_path(tmp_path: Path, counter: Counter) -> None:
    with Kero(db_path=tmp_path):
        with pytest.raises(ModuleNotFoundError, match="No module named 'pandas'"):
            importlib.import_module("pandas")
        assert counter.count == 1  # searched for, as without Kero
        assert "pandas" not in sys.modules


def test_duckdb_called_by_other_code_is_left_alone(tmp_path: Path, counter: Counter) -> None:
    import duckdb

    with Kero(db_path=tmp_path), duckdb.connect() as con:
        assert con.execute("SELECT ? + 1", [1]).fetchone() == (2,)
        assert counter.count == 2


def test_nothing_is_installed_where_pandas_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, pandas_probe.NoPandasForKero)])
    monkeypatch.setitem(sys.modules, "pandas", types.ModuleType("pandas"))
    assert pandas_probe.install() is False
    assert not any(isinstance(f, pandas_probe.NoPandasForKero) for f in sys.meta_path)


def test_another_copys_finder_counts_as_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two kero_core versions in one process (a benchmark's --before): the second finds the
    first's finder (another class of the same name) in place, and installs no second one; it
    used to ask find_spec("pandas"), which that finder answered with an error."""
    copy = types.ModuleType("kero_copy")
    exec(compile(Path(pandas_probe.__file__).read_text(), "kero_copy", "exec"), copy.__dict__)
    others = [f for f in sys.meta_path if not isinstance(f, pandas_probe.NoPandasForKero)]
    monkeypatch.setattr(sys, "meta_path", [copy.NoPandasForKero(), *others])
    assert pandas_probe.install() is True
    assert [type(f).__name__ for f in sys.meta_path].count("NoPandasForKero") == 1


def test_an_older_copys_install_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kero_core without that check (4004015 and before) asks find_spec("pandas") from its
    install(), in its own kero_core.pandas_probe: this finder lets the question through, to
    an answer, rather than raise."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    pandas_probe.install()
    older = {"__name__": "kero_core.pandas_probe"}  # where the older install() runs
    exec("import importlib.util\nfound = importlib.util.find_spec('pandas')", older)
    assert older["found"] is None
