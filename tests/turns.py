"""Turns between pytest-xdist's workers (``make test`` runs two): a test marked ``alone`` measures
wall time against a bound, so its call runs while no other test runs; every other test runs
beside any other. Without xdist (``pytest -p no:xdist``, ``-n 0``) nothing waits.

Two flock(2) locks in a folder the controller makes for the run: each test holds ``running``
shared, from its setup to its teardown; an ``alone`` test takes it exclusive for its call.
``gate`` keeps a waiting ``alone`` test from being starved by the other worker's next tests."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

FOLDER = pytest.StashKey[Path]()
OPTION = "kero_turns"  # the folder's name in each worker's workerinput


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """In the controller, for each worker it starts: the run's folder, made for the first."""
    if FOLDER not in node.config.stash:
        node.config.stash[FOLDER] = Path(tempfile.mkdtemp(prefix="kero-test-turns-"))
    node.workerinput[OPTION] = str(node.config.stash[FOLDER])


def pytest_unconfigure(config: pytest.Config) -> None:
    if FOLDER in config.stash:
        shutil.rmtree(config.stash[FOLDER], ignore_errors=True)


def _folder(item: pytest.Item) -> Path | None:
    workerinput = getattr(item.config, "workerinput", None)
    return Path(workerinput[OPTION]) if workerinput and OPTION in workerinput else None


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a") as file:
        fcntl.flock(file, mode)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    folder = _folder(item)
    if folder is None or item.get_closest_marker("alone"):
        yield
        return
    with ExitStack() as held:
        with _locked(folder / "gate", fcntl.LOCK_SH):
            held.enter_context(_locked(folder / "running", fcntl.LOCK_SH))
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    folder = _folder(item)
    if folder is None or not item.get_closest_marker("alone"):
        yield
        return
    with _locked(folder / "gate", fcntl.LOCK_EX), _locked(folder / "running", fcntl.LOCK_EX):
        yield
