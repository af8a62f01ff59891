"""Every option's validation: one clear error naming the option."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from kero_core import Kero, KeroConfigError
from kero_core.config import make_config


def test_db_path_is_required() -> None:
    with pytest.raises(KeroConfigError, match="db_path is required"):
        Kero()


def test_db_path_folder_is_created(tmp_path: Path) -> None:
    config = make_config(db_path=tmp_path / "a" / "b")
    assert config.db_path.is_dir()


def test_db_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(KeroConfigError, match="db_path must be a folder"):
        make_config(db_path=target)


def test_unwritable_db_path_parent_is_refused() -> None:
    with pytest.raises(KeroConfigError, match="db_path '/proc/kero' cannot be created"):
        make_config(db_path="/proc/kero")


@pytest.mark.parametrize("option", ["dashboard_path", "pixel_path"])
@pytest.mark.parametrize("bad", ["", "/", "kero", "_kero", 5])
def test_url_paths_must_be_absolute(tmp_path: Path, option: str, bad: object) -> None:
    with pytest.raises(KeroConfigError, match=option):
        make_config(db_path=tmp_path, **{option: bad})


def test_url_paths_are_normalised(tmp_path: Path) -> None:
    config = make_config(db_path=tmp_path, dashboard_path="/stats/", pixel_path="/p.gif")
    assert (config.dashboard_path, config.pixel_path) == ("/stats", "/p.gif")


def test_pixel_and_dashboard_must_differ(tmp_path: Path) -> None:
    with pytest.raises(KeroConfigError, match="pixel_path must differ"):
        make_config(db_path=tmp_path, dashboard_path="/x", pixel_path="/x")


@pytest.mark.parametrize("bad", [0, -1, timedelta(0), timedelta(days=-1), "15d"])
def test_retention_must_be_positive(tmp_path: Path, bad: object) -> None:
    with pytest.raises(KeroConfigError, match="retention"):
        make_config(db_path=tmp_path, retention=bad)


def test_retention_in_days(tmp_path: Path) -> None:
    assert make_config(db_path=tmp_path, retention=3).retention == timedelta(days=3)


def test_geoip_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeroConfigError, match="geoip_db .* does not exist"):
        make_config(db_path=tmp_path, geoip_db=tmp_path / "nope.mmdb")


def test_geoip_directory(tmp_path: Path) -> None:
    with pytest.raises(KeroConfigError, match="geoip_db .* is a folder"):
        make_config(db_path=tmp_path, geoip_db=tmp_path)


def test_geoip_invalid_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a maxmind database" * 10)
    with pytest.raises(KeroConfigError, match="geoip_db .* is not a valid MaxMind database"):
        make_config(db_path=tmp_path, geoip_db=bad)


def test_geoip_real_file(tmp_path: Path, geoip_db: str) -> None:
    assert make_config(db_path=tmp_path, geoip_db=geoip_db).geoip_db == Path(geoip_db)


@pytest.mark.parametrize("option", ["measure_requests", "ignore_web_assets", "ignore_bots", "ignore_dnt"])
def test_flags_must_be_bool(tmp_path: Path, option: str) -> None:
    with pytest.raises(KeroConfigError, match=option):
        make_config(db_path=tmp_path, **{option: "yes"})


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_trusted_proxies(tmp_path: Path, bad: object) -> None:
    with pytest.raises(KeroConfigError, match="trusted_proxies"):
        make_config(db_path=tmp_path, trusted_proxies=bad)


def test_unknown_option_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(KeroConfigError, match="unknown Kero option 'ignore_bot'.*did you mean 'ignore_bots'"):
        make_config(db_path=tmp_path, ignore_bot=True)

