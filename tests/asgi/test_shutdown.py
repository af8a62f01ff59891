"""Zero-configuration graceful shutdown under real ASGI servers: N requests, one SIGTERM, exactly
N events stored. The apps are set up with nothing but the documented middleware line, and
flush every 60 s, so only the write at the server's stop can have stored them.

uvicorn (alone, with --workers, and as gunicorn's worker) re-raises SIGTERM with the default
action after its graceful stop, which ends the process without exit handlers: before
kero_core.shutdown, 0 of 60 were stored there. The servers must still stop as they do without
Kero: on one signal, with the same exit status (the re-raised signal is not swallowed)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from kero_core import Kero
from tests.asgi.servers import get, serve

N = 60
FASTAPI, PLAIN, BARE = "tests.asgi.sites:fastapi_app", "tests.asgi.sites:plain_app", "tests.asgi.sites:bare_app"
DJANGO = "tests.django.project.asgi:application"  # INSTALLED_APPS + the middleware line, nothing else
DJANGO_ENV = {"DJANGO_SETTINGS_MODULE": "tests.django.project.minimal_settings", "KERO_TEST_FLUSH_INTERVAL": "60"}


def stored(tmp_path: Path) -> int:
    with Kero(db_path=tmp_path / "kero") as reader:
        return reader.count()


def paths(tmp_path: Path) -> list[str]:
    with Kero(db_path=tmp_path / "kero") as reader:
        return sorted(e.path for e in reader.query(limit=10 * N))


@pytest.mark.parametrize(
    ("kind", "app"),
    [("uvicorn", FASTAPI), ("uvicorn-workers", FASTAPI), ("gunicorn-uvicorn", FASTAPI), ("hypercorn", FASTAPI),
     ("granian", FASTAPI), ("uvicorn", DJANGO), ("daphne", DJANGO), ("gunicorn-uvicorn", DJANGO)],
)
def test_sigterm_after_n_requests_leaves_exactly_n_stored(kind: str, app: str, tmp_path: Path) -> None:
    env = {**DJANGO_ENV, "KERO_TEST_DB_PATH": str(tmp_path / "kero")} if app == DJANGO else {}
    prefix = "/hello/" if app == DJANGO else "/items/"
    with serve(kind, app, tmp_path, env) as server:
        statuses = [get(f"{server.url}{prefix}{i}") for i in range(N)]
        server.stop(signal.SIGTERM)
    print(f"\n[{kind} {app}] sent={N} stored={stored(tmp_path)} exit={server.returncode}")
    assert statuses == [200] * N
    assert paths(tmp_path) == sorted(f"{prefix}{i}" for i in range(N))
    assert "Traceback" not in server.log(), server.log()


def test_requests_in_flight_at_sigterm_are_answered_and_stored(tmp_path: Path) -> None:
    """SIGTERM while five slow requests run: uvicorn finishes them (graceful stop), and Kero
    writes each as it is recorded, before the server ends the process."""
    answers: list[int] = []
    with serve("uvicorn", FASTAPI, tmp_path, {"KERO_TEST_SLOW": "2"}) as server:
        assert get(server.url + "/items/1") == 200
        clients = [threading.Thread(target=lambda: answers.append(get(server.url + "/slow"))) for _ in range(5)]
        for client in clients:
            client.start()
        threading.Event().wait(1.0)  # the five are inside their 2 s sleep
        server.stop(signal.SIGTERM)
        for client in clients:
            client.join(30)
    assert answers == [200] * 5
    assert paths(tmp_path) == ["/items/1"] + ["/slow"] * 5


@pytest.mark.parametrize("kind", ["uvicorn", "uvicorn-workers", "gunicorn-uvicorn"])
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)], ids=["SIGTERM", "Ctrl+C"])
def test_the_server_stops_on_one_signal_as_it_does_without_kero(kind: str, signum: int, group: bool, tmp_path: Path) -> None:
    """The same exit status with and without Kero (a plain ASGI app that knows no lifespan);
    with Kero, what it answered is stored. SIGTERM goes to the main process (a process
    manager), SIGINT to every process of the server (Ctrl+C in a terminal). Not tested: SIGINT
    to gunicorn's master alone, its quick stop, where UvicornWorker ignores the SIGQUIT it is
    sent and is killed after the graceful timeout, with or without Kero."""
    exits = {}
    for app in (BARE, PLAIN):
        folder = tmp_path / app.rpartition(":")[2]
        folder.mkdir()
        with serve(kind, app, folder) as server:
            assert [get(f"{server.url}/page/{i}") for i in range(10)] == [200] * 10
            exits[app] = server.stop(signum, group=group)
    assert exits[PLAIN] == exits[BARE]
    assert stored(tmp_path / "plain_app") == 10
