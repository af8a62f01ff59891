"""The KERO_* keys of app.config: derived from the core's option table, defaults filled in,
every bad value one clear error naming its key at init_app, unknown keys a warning."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask import Flask

from kero_core.config import OPTIONS
from kero_flask import Kero, KeroConfigError, KeroConfigWarning
from kero_flask.settings import KEYS, key_of
from tests.conftest import CHROME_UA


def flask_app(tmp_path: Path, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"KERO_DB_PATH": str(tmp_path / "kero"), **config})
    return app


@pytest.fixture
def init(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """A fresh app with ``config`` and Kero(app); closed after the test."""
    made: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = flask_app(tmp_path, **config)
        Kero(app)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            app.extensions["kero"].close()


def test_every_core_option_has_a_key() -> None:
    assert [key_of(o.name) for o in OPTIONS] == [k for k in KEYS if k not in ("KERO_ADMIN_USER", "KERO_ADMIN_PASSWORD")]
    assert key_of("pixel_path") == "KERO_PIXEL_PATH"
    assert key_of("retention") == "KERO_RETENTION_DAYS"


def test_defaults_are_filled_in(init: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERO_ADMIN_USER", raising=False)
    monkeypatch.delenv("KERO_ADMIN_PASSWORD", raising=False)
    app = init()
    assert set(KEYS) <= set(app.config)
    assert app.config["KERO_DASHBOARD_PATH"] == "/_kero"
    assert app.config["KERO_RETENTION_DAYS"] == 15
    assert app.config["KERO_PIXEL_PATH"] is None and app.config["KERO_ADMIN_PASSWORD"] is None
    with app.app_context():
        assert app.extensions["kero"].config.retention == timedelta(days=15)


def test_values_reach_the_core(init: Callable[..., Flask]) -> None:
    app = init(KERO_DASHBOARD_PATH="/stats/", KERO_PIXEL_PATH="/p.gif", KERO_RETENTION_DAYS=3,
               KERO_IGNORE_BOTS=True, KERO_TITLE="Shop stats", KERO_TRUSTED_PROXIES=1, KERO_MAX_BUFFER=500)
    with app.app_context():
        config = app.extensions["kero"].config
    assert (config.dashboard_path, config.pixel_path, config.retention) == ("/stats", "/p.gif", timedelta(days=3))
    assert (config.ignore_bots, config.title, config.trusted_proxies, config.max_buffer) == (True, "Shop stats", 1, 500)


def test_dashboard_path_moves_the_dashboard(init: Callable[..., Flask]) -> None:
    client = init(KERO_DASHBOARD_PATH="/stats", KERO_ADMIN_USER="a", KERO_ADMIN_PASSWORD="b").test_client()
    assert client.get("/stats/").status_code == 401
    assert client.get("/_kero/").status_code == 404


def test_geoip_db_locates_visitors(init: Callable[..., Flask], geoip_db: str) -> None:
    app = init(KERO_GEOIP_DB=geoip_db)

    @app.get("/")
    def index() -> str:
        return "home"

    app.test_client().get("/", headers={"User-Agent": CHROME_UA}, environ_base={"REMOTE_ADDR": "81.2.69.142"}, buffered=True)
    with app.app_context():
        [event] = app.extensions["kero"].query()
    assert event.country == "GB" and event.city


@pytest.mark.parametrize("value", [None, ""])
def test_missing_db_path_is_a_clear_error(tmp_path: Path, value: Any) -> None:
    app = flask_app(tmp_path, KERO_DB_PATH=value)
    with pytest.raises(KeroConfigError, match=r"^KERO_DB_PATH is required: set app.config\['KERO_DB_PATH'\]"):
        Kero(app)
    assert "kero" not in app.extensions


def test_db_path_not_set_at_all(tmp_path: Path) -> None:
    with pytest.raises(KeroConfigError, match="KERO_DB_PATH is required"):
        Kero().init_app(Flask(__name__))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"KERO_RETENTION_DAYS": 0}, "KERO_RETENTION_DAYS must be positive"),
        ({"KERO_RETENTION_DAYS": "15d"}, "KERO_RETENTION_DAYS must be a timedelta or a number of days, got '15d'"),
        ({"KERO_PIXEL_PATH": "visit.gif"}, "KERO_PIXEL_PATH must be a URL path starting with '/'"),
        ({"KERO_DASHBOARD_PATH": "/"}, "KERO_DASHBOARD_PATH must be a URL path"),
        ({"KERO_MEASURE_REQUESTS": "yes"}, "KERO_MEASURE_REQUESTS must be True or False, got 'yes'"),
        ({"KERO_PIXEL_PATH": "/x", "KERO_DASHBOARD_PATH": "/x"}, r"KERO_PIXEL_PATH must differ from KERO_DASHBOARD_PATH\."),
        ({"KERO_GEOIP_DB": "/nowhere/GeoLite2-City.mmdb"}, "KERO_GEOIP_DB '/nowhere/GeoLite2-City.mmdb' does not exist"),
        ({"KERO_TRUSTED_PROXIES": -1}, "KERO_TRUSTED_PROXIES must be None or an integer"),
        ({"KERO_FLUSH_INTERVAL": 0}, "KERO_FLUSH_INTERVAL must be a positive number"),
        ({"KERO_GOALS": "signup"}, "KERO_GOALS must be a list"),
        ({"KERO_FUNNELS": {"Checkout": "/pricing"}}, "KERO_FUNNELS: 'Checkout' must be a list of 2 to 8 steps"),
        ({"KERO_ADMIN_USER": "admin", "KERO_ADMIN_PASSWORD": None}, "KERO_ADMIN_USER is set but KERO_ADMIN_PASSWORD is not"),
        ({"KERO_ADMIN_USER": None, "KERO_ADMIN_PASSWORD": "secret"}, "KERO_ADMIN_PASSWORD is set but KERO_ADMIN_USER is not"),
        ({"KERO_ADMIN_USER": "admin", "KERO_ADMIN_PASSWORD": 1234}, "KERO_ADMIN_PASSWORD must be a string, got int"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, config: dict[str, Any], message: str) -> None:
    app = flask_app(tmp_path, **config)
    with pytest.raises(KeroConfigError, match=f"^{message}"):
        Kero(app)
    assert "kero" not in app.extensions  # fix the config and init_app again


def test_a_path_that_contains_an_option_name_is_left_alone(tmp_path: Path) -> None:
    app = flask_app(tmp_path, KERO_GEOIP_DB=str(tmp_path / "geoip_db"))
    (tmp_path / "geoip_db").mkdir()
    with pytest.raises(KeroConfigError, match=r"^KERO_GEOIP_DB '.*/geoip_db' is a folder, not a file"):
        Kero(app)


@pytest.mark.parametrize(
    "typo, closest",
    [("KERO_RETENTION", "KERO_RETENTION_DAYS"), ("KERO_DASHBORD_PATH", "KERO_DASHBOARD_PATH"),
     ("KERO_ADMIN_PASS", "KERO_ADMIN_PASSWORD"), ("KERO_IGNORE_BOT", "KERO_IGNORE_BOTS")],
)
def test_unknown_keys_warn_with_the_closest_key(init: Callable[..., Flask], typo: str, closest: str) -> None:
    with pytest.warns(KeroConfigWarning, match=rf"app.config\['{typo}'\] is not a Kero setting and is ignored; did you mean '{closest}'\?") as caught:
        init(**{typo: True})
    assert caught[0].filename == __file__  # points at the Kero(app) line


def test_warning_points_at_init_app_in_a_factory(tmp_path: Path) -> None:
    app = flask_app(tmp_path, KERO_TITEL="Shop")
    with pytest.warns(KeroConfigWarning, match="did you mean 'KERO_TITLE'") as caught:
        Kero().init_app(app)
    assert caught[0].filename == __file__


def test_warning_is_a_user_warning_and_known_keys_do_not_warn(init: Callable[..., Flask]) -> None:
    assert issubclass(KeroConfigWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init(KERO_RETENTION_DAYS=2, KERO_ADMIN_USER="a", KERO_ADMIN_PASSWORD="b", OTHER_SETTING=1)


def test_admin_credentials_default_to_the_environment(init: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERO_ADMIN_USER", "env-admin")
    monkeypatch.setenv("KERO_ADMIN_PASSWORD", "env-secret")
    from_env = init().test_client()
    assert from_env.get("/_kero/", auth=("env-admin", "env-secret")).status_code == 200
    overridden = init(KERO_ADMIN_USER="cfg", KERO_ADMIN_PASSWORD="cfg-secret")
    assert overridden.config["KERO_ADMIN_USER"] == "cfg"
    client = overridden.test_client()
    assert client.get("/_kero/", auth=("env-admin", "env-secret")).status_code == 401
    assert client.get("/_kero/", auth=("cfg", "cfg-secret")).status_code == 200


def test_settings_are_read_once_at_init_app(init: Callable[..., Flask]) -> None:
    app = init(KERO_TITLE="Before")
    app.config["KERO_TITLE"] = "After"
    with app.app_context():
        assert app.extensions["kero"].config.title == "Before"
