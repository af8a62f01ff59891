"""Sustained load on `gunicorn -w 4` while the dashboard is read every second: every page view
the server answered is stored, exactly, and the dashboard keeps answering (its p95 is printed).

Default run: about 10 s of load per site. `make test-slow`: 60 s."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from kero_core import Kero
from tests.reliability.load import PATHS, DashboardPoller, Load, basic
from tests.reliability.servers import PASSWORD, USER, gunicorn

FLASK_SITE = Path(__file__).resolve().parents[2] / "example_sites" / "flask_site"


@dataclass(frozen=True)
class Site:
    app: str
    options: tuple[str, ...]
    paths: tuple[str, ...]


SITES = {
    "wsgi": Site("tests.reliability.sites:example()", (), PATHS),
    "flask": Site("app:create_app()", ("--chdir", str(FLASK_SITE)),
                  ("/", "/about", "/blog", "/blog/hello-kero", "/pricing", "/api/posts")),
}


def stored_by_path(db_path: Path) -> Counter[str]:
    with Kero(db_path=db_path) as reader:
        return Counter(dict(reader.top("path", metric="events", limit=1000)))


def sustained_load(tmp_path: Path, site: Site, seconds: float) -> None:
    db_path = tmp_path / "kero"
    env = {"FLASK_KERO_DB_PATH": str(db_path)}  # the Flask example's setting; the WSGI one reads KERO_DB_PATH
    with gunicorn(site.app, tmp_path, *site.options, db_path=db_path, env=env) as server:
        with DashboardPoller(server.url + "/_kero/", basic(USER, PASSWORD)) as poller:
            with Load(server.url, clients=4, seconds=seconds, paths=site.paths) as load:
                tally = load.wait()
    stored = stored_by_path(db_path)
    polls = poller.polls
    print(f"\n[load {site.app} {seconds:.0f}s] sent={tally.sent} stored={sum(stored.values())} "
          f"lost={tally.sent - sum(stored.values())} app errors={dict(tally.failures)} "
          f"rate={tally.sent / seconds:.0f} req/s | dashboard polls={len(polls.latencies_ms)} "
          f"statuses={dict(polls.statuses)} p95={polls.p95():.0f} ms max={max(polls.latencies_ms):.0f} ms")
    assert tally.failures == Counter(), "the app must answer 200 to every request"
    assert stored == tally.by_path()
    assert set(polls.statuses) == {200}, polls.errors
    assert len(polls.latencies_ms) >= 3, "the dashboard must keep answering while the load runs"
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.alone  # its load takes both cores: the dashboard's answers are timed against it alone
@pytest.mark.parametrize("site", SITES)
def test_sustained_load_stores_exactly_what_was_answered(tmp_path: Path, site: str) -> None:
    sustained_load(tmp_path, SITES[site], seconds=10)


@pytest.mark.slow
@pytest.mark.alone
@pytest.mark.parametrize("site", SITES)
def test_sustained_load_for_a_minute(tmp_path: Path, site: str) -> None:
    sustained_load(tmp_path, SITES[site], seconds=60)
