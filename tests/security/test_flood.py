"""The cardinality flood over real HTTP (issue 14, finding 1): an anonymous client's requests,
each unique in path, UTM values, Referer and User-Agent, counted exactly; afterwards ten
concurrent dashboard loads all answer, and a dashboard read does not wait for another reader.
(Render times are the benchmark's: benchmarks/flood.py.)"""

from __future__ import annotations

import fcntl
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from kero_core.synthetic import flood
from tests.reliability.servers import PASSWORD, USER, Server, gunicorn

FLOOD = 600
HUMANS = FLOOD // 2  # the other half sends unique bot names
WAIT = 60.0  # seconds for the workers' writers to store what they recorded


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Server, Path]:
    tmp = tmp_path_factory.mktemp("flood")
    with gunicorn("tests.reliability.sites:example()", tmp, workers=4) as server:
        with requests.Session() as session:
            for hit in flood(FLOOD, end=time.time()):
                answer = session.get(f"{server.url}{hit.path}?{hit.query}", timeout=30, allow_redirects=False,
                                     headers={"User-Agent": hit.user_agent, "Referer": hit.referrer})
                assert answer.status_code in (200, 404)
        yield server, tmp / "kero"


def stats(server: Server) -> dict:
    answer = requests.get(f"{server.url}/_kero/api/stats?period=today", auth=(USER, PASSWORD), timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def views(data: dict) -> int:
    return next(f for f in data["figures"] if f["id"] == "views")["value"]


def bot_requests(data: dict) -> int:
    return sum(row["values"][0] for row in next(c for c in data["cards"] if c["id"] == "bots")["rows"])


def stored(server: Server) -> dict:
    """The stats of today once the workers have stored the flood, humans and bots (each worker
    writes on its own schedule), or after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while (views(data := stats(server)), bot_requests(data)) < (HUMANS, FLOOD - HUMANS) and time.monotonic() < deadline:
        time.sleep(0.5)
    return data


def test_every_flood_request_is_counted_exactly(flooded: tuple[Server, Path]) -> None:
    server, _ = flooded
    data = stored(server)
    assert (views(data), bot_requests(data)) == (HUMANS, FLOOD - HUMANS)


def test_ten_concurrent_dashboard_loads_all_answer(flooded: tuple[Server, Path]) -> None:
    server, _ = flooded

    def load(_: int) -> int:
        return requests.get(f"{server.url}/_kero/", auth=(USER, PASSWORD), timeout=60).status_code

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(load, range(10))) == [200] * 10


def test_a_dashboard_read_does_not_wait_for_another_reader(flooded: tuple[Server, Path]) -> None:
    """This test holds the ingest lock as a reader does (shared); the dashboard answers at once.
    (Before, every read took the lock alone, and this one waited for it up to 30 s, then said 503.)"""
    server, db_path = flooded
    stored(server)
    fd = os.open(db_path / "ingest.lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        answer = requests.get(f"{server.url}/_kero/api/stats?period=today", auth=(USER, PASSWORD), timeout=20)
        assert answer.status_code == 200 and views(answer.json()) == HUMANS
    finally:
        os.close(fd)
