"""Without a GeoIP file the Locations card says how to turn locations on (which option, which
file, where to get it); with one, or over data that already has countries, it says nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from kero_core import Kero
from tests.conftest import FakeClock
from tests.dashboard.conftest import at, call, ingest, view_hit
from tests.dashboard.html import parse


def _note(kero: Kero) -> list[str]:
    card = parse(call(kero).body).find("article", id="card-locations")
    return [" ".join(n.text().split()) for n in card.find_all("p", cls="card-note")]


def test_without_a_geoip_file_the_card_says_how_to_turn_locations_on(kero: Kero) -> None:
    ingest(kero, [view_hit(at(-5))])
    (note,) = _note(kero)
    assert "set the geoip_db option (KERO_GEOIP_DB in Flask, KERO[\"GEOIP_DB\"] in Django)" in note
    assert "GeoLite2-City .mmdb file, free from maxmind.com" in note
    assert "(dev.maxmind.com/geoip/geolite2-free-geolocation-data) and kept fresh by geoipupdate" in note


def test_with_a_geoip_file_there_is_no_note(make_kero: Callable[..., Kero], clock: FakeClock, geoip_db: str) -> None:
    geo = make_kero(clock=clock, geoip_db=geoip_db)
    ingest(geo, [view_hit(at(-5))])
    assert _note(geo) == []


def test_data_with_countries_read_without_a_geoip_file_has_no_note(
    make_kero: Callable[..., Kero], clock: FakeClock, geoip_db: str, tmp_path: Path,
) -> None:
    writer = make_kero(clock=clock, geoip_db=geoip_db, db_path=tmp_path / "copy")
    ingest(writer, [view_hit(at(-5))])
    writer.close()
    reader = make_kero(clock=clock, db_path=tmp_path / "copy")  # as `kero serve` over a copy does
    assert _note(reader) == []
