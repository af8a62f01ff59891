"""Hosts of a fleet starting at once on a lake nobody has opened yet: every one must open it
(DuckLake creates its catalog tables at the first ATTACH)."""

from __future__ import annotations

import threading

from kero_core.lake.connection import LakeUnavailable, connect

HOSTS = 4


def test_hosts_opening_a_new_lake_at_once_all_succeed(lake: str, lake_data: str) -> None:
    barrier = threading.Barrier(HOSTS)
    errors: list[str] = []

    def open_lake() -> None:
        barrier.wait(30)
        try:
            connect(lake, lake_data).close()
        except LakeUnavailable as exc:
            errors.append(str(exc)[:300])

    threads = [threading.Thread(target=open_lake, name=f"host-{i}") for i in range(HOSTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
