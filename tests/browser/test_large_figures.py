"""Key figures of a busy site: from a million on they are shortened (1.23M) by the server and by
the browser's compact notation, with the exact number on hover, so that they fit their tiles
(at 10 million events "2,823,298 visitors" overflowed into the next tile)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kero_core import Kero, rollups
from kero_core.capture import hit_from_environ
from tests.browser.conftest import Server, Watched
from tests.conftest import environ

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc).timestamp()
VIEWS = 1_234_567  # one page view each of as many visitors, in the hour before NOON


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Overrides the seeded small site: one real page view, copied in the database to VIEWS page
    views of distinct visitors (the pipeline would take a minute to write them one by one)."""
    kero = Kero(db_path=Path(tmp_path_factory.mktemp("big")) / "kero", clock=lambda: NOON, title="Busy site")
    kero.ingest([hit_from_environ(environ("/"), NOON - 60, status=200)])
    with kero.read() as con:
        con.execute("INSERT INTO events SELECT e.* REPLACE (visitor_id + i AS visitor_id, ts - to_seconds(i % 3600) AS ts) "
                    "FROM events AS e, range(1, ?) AS r(i)", [VIEWS])
        rollups.save_live_days(con, {})  # rows an ingest keeps would miss these: today is read from its events
    with Server.running(kero) as srv:
        yield srv


@pytest.mark.parametrize("width", [1280, pytest.param(390, marks=pytest.mark.slow)])
def test_large_key_figures_are_shortened_and_fit_their_tiles(
    make_page: Callable[..., Watched], server: Server, width: int
) -> None:
    watched = make_page(viewport={"width": width, "height": 900}, locale="en-US")
    watched.page.goto(server.dashboard + "?period=today")
    for figure in ("visitors", "views"):
        number = watched.page.locator(f"#figure-{figure} data")
        assert number.inner_text() == "1.23M"
        assert number.get_attribute("title") == "1,234,567"
        assert number.get_attribute("value") == str(VIEWS)
    overflowing = watched.page.eval_on_selector_all(
        ".figure .value", "els => els.filter(e => e.scrollWidth > e.clientWidth).map(e => e.textContent)")
    assert overflowing == []
    watched.assert_clean()


def test_without_script_the_server_shortens_them(make_page: Callable[..., Watched], server: Server) -> None:
    watched = make_page(java_script_enabled=False)
    watched.page.goto(server.dashboard + "?period=today")
    assert watched.page.locator("#figure-views data").inner_text() == "1.23M"
    assert watched.page.locator("#figure-views data").get_attribute("title") == "1,234,567"
