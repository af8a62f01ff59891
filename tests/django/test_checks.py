"""`manage.py check` reports every bad KERO setting with a stable id and a hint."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from kero_core.config import OPTIONS
from kero_django.conf import CORE_KEYS


def kero_messages() -> list[tuple[str, str]]:
    return [(m.id, m.msg) for m in run_checks(include_deployment_checks=False) if m.id and m.id.startswith("kero.")]


def ids() -> list[str]:
    return [i for i, _ in kero_messages()]


def test_good_settings_pass(kero_settings: dict[str, Any]) -> None:
    assert kero_messages() == []


def test_every_core_option_is_a_key(settings: Any, kero_settings: dict[str, Any], geoip_db: str) -> None:
    """Keys come from the core's option table; a value of each passes the checks."""
    good = {"PIXEL_PATH": "/p.gif", "GEOIP_DB": geoip_db, "RETENTION": 3, "TRUSTED_PROXIES": 1, "TITLE": "Stats",
            "FLUSH_INTERVAL": 0.5, "MAX_BUFFER": 10, "MEASURE_REQUESTS": True, "IGNORE_WEB_ASSETS": True,
            "IGNORE_BOTS": True, "IGNORE_DNT": True, "LAKE": "postgres:dbname=kero host=db.internal",
            "LAKE_DATA_PATH": "s3://bucket/kero/", "GOALS": ["signup", "/docs/*"],
            "FUNNELS": {"Checkout": ["/pricing", "signup"]}, "RELEASE": "v1.4", "WRITER_PROCESS": False}
    assert set(CORE_KEYS) == {o.name.upper() for o in OPTIONS} - {"DASHBOARD_PATH"} == {"DB_PATH", "RAW_RETENTION", *good}
    settings.KERO = {**kero_settings, **good}
    assert kero_messages() == []
    settings.KERO = {**kero_settings, "RETENTION": 30, "RAW_RETENTION": 7}  # not with LAKE (yet)
    assert kero_messages() == []


def test_a_lake_data_path_without_a_lake_is_one_error(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "LAKE_DATA_PATH": "/shared/lake"}
    assert kero_messages() == [("kero.E003", "KERO: lake_data_path is set but lake is not: name the lake's PostgreSQL catalog too.")]


def test_kero_must_be_a_dict(settings: Any) -> None:
    settings.KERO = ["DB_PATH", "/tmp"]
    assert kero_messages() == [("kero.E001", "The KERO setting must be a dict, got list.")]


@pytest.mark.parametrize("kero", [None, {}, {"DB_PATH": ""}, {"PIXEL_PATH": "/visit.gif"}])
def test_db_path_is_required(settings: Any, kero: Any) -> None:
    settings.KERO = kero
    assert ids() == ["kero.E002"]


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("PIXEL_PATH", "visit.gif", "pixel_path must be a URL path"),
        ("GEOIP_DB", "/no/such/GeoLite2-City.mmdb", "does not exist"),
        ("MEASURE_REQUESTS", "yes", "measure_requests must be True or False"),
        ("IGNORE_WEB_ASSETS", 1, "ignore_web_assets must be True or False"),
        ("IGNORE_BOTS", None, "ignore_bots must be True or False"),
        ("IGNORE_DNT", "false", "ignore_dnt must be True or False"),
        ("RETENTION", -1, "retention must be positive"),
        ("RETENTION_DAYS", "two weeks", "retention must be a timedelta or a number of days"),
        ("RETENTION_DAYS", 0, "retention must be positive"),
        ("TRUSTED_PROXIES", -1, "trusted_proxies must be None or an integer"),
        ("FLUSH_INTERVAL", 0, "flush_interval must be a positive number"),
        ("MAX_BUFFER", "many", "max_buffer must be a positive number"),
        ("GOALS", ["sign*"], "'sign*' has a '*' but is not a path"),
        ("FUNNELS", {"Checkout": ["/pricing"]}, "'Checkout' must be a list of 2 to 8 steps"),
    ],
)
def test_each_bad_value_is_an_error_naming_its_key(settings: Any, kero_settings: dict[str, Any], key: str, value: Any, says: str) -> None:
    settings.KERO = {**kero_settings, key: value}
    [(check_id, message)] = kero_messages()
    assert check_id == "kero.E003"
    assert message.startswith(f"KERO[{key!r}]: ") and says in message


def test_all_bad_values_are_reported_at_once(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "PIXEL_PATH": "x", "MAX_BUFFER": 0}
    assert ids() == ["kero.E003", "kero.E003"]


def test_db_path_that_is_a_file(settings: Any, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    settings.KERO = {"DB_PATH": tmp_path / "file"}
    [(check_id, message)] = kero_messages()
    assert check_id == "kero.E003" and "is a file" in message


def test_geoip_db_that_is_not_a_maxmind_file(settings: Any, kero_settings: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "fake.mmdb").write_bytes(b"not a database")
    settings.KERO = {**kero_settings, "GEOIP_DB": tmp_path / "fake.mmdb"}
    [(check_id, message)] = kero_messages()
    assert check_id == "kero.E003" and "not a valid MaxMind database" in message


@pytest.mark.parametrize("auth", ["no.such.module.check", "tests.django.test_checks.NOT_CALLABLE", 42])
def test_auth_must_be_a_dotted_path_to_a_callable(settings: Any, kero_settings: dict[str, Any], auth: Any) -> None:
    settings.KERO = {**kero_settings, "AUTH": auth}
    assert ids() == ["kero.E004"]


NOT_CALLABLE = "a string"


@pytest.mark.parametrize(
    "credentials",
    [{"ADMIN_USER": "admin"}, {"ADMIN_PASSWORD": "pw"}, {"ADMIN_USER": "", "ADMIN_PASSWORD": "pw"},
     {"ADMIN_USER": "a:b", "ADMIN_PASSWORD": "pw"}, {"ADMIN_USER": "admin", "ADMIN_PASSWORD": 1234},
     {"ADMIN_USER": "admin", "ADMIN_PASSWORD": ""}, {"ADMIN_USER": "admin", "ADMIN_PASSWORD": "  "}],
)
def test_basic_credentials_must_come_in_pairs(settings: Any, kero_settings: dict[str, Any], credentials: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, **credentials}
    assert ids() == ["kero.E005"]


def test_retention_given_twice(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "RETENTION": 3, "RETENTION_DAYS": 4}
    assert ids() == ["kero.E006"]


def test_unknown_key_warns_with_the_closest_key(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "PIXEL_PAHT": "/v.gif", "measure_requests": True}
    messages = [m for m in run_checks() if m.id == "kero.W001"]
    assert [m.hint.split("?")[0] for m in messages] == ["Did you mean 'PIXEL_PATH'", "Did you mean 'MEASURE_REQUESTS'"]


def test_missing_middleware_warns(settings: Any) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "kero" not in m]
    assert ids() == ["kero.W002"]


def test_dashboard_nobody_can_open_warns(settings: Any) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "AuthenticationMiddleware" not in m and "Message" not in m]
    assert "kero.W003" in ids()


def test_dashboard_path_has_no_effect(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "DASHBOARD_PATH": "/stats"}
    assert ids() == ["kero.W004"]


def test_urls_not_included_warns(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.django.test_checks"
    assert ids() == ["kero.W005"]


urlpatterns: list[Any] = []  # a URLconf without kero_django.urls, for the test above


def test_manage_py_check_shows_the_error_and_hint(settings: Any) -> None:
    settings.KERO = {"PIXEL_PATH": "/visit.gif"}
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    text = str(raised.value)
    assert "(kero.E002) KERO['DB_PATH'] is required" in text and 'HINT: For example: KERO = {"DB_PATH"' in text


def test_a_bad_setting_never_breaks_the_site(settings: Any, tmp_path: Path, caplog: Any) -> None:
    from django.test import Client

    (tmp_path / "file").write_text("x")
    settings.KERO = {"DB_PATH": tmp_path / "file"}
    client = Client()
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    assert caplog.text.count("kero: not tracking") == 1


def test_a_relative_db_path_is_under_base_dir(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kero_django import get_kero

    monkeypatch.chdir(tmp_path)  # the working directory is not the project's
    settings.BASE_DIR = tmp_path / "project"
    settings.KERO = {"DB_PATH": "kero"}
    assert kero_messages() == []
    assert get_kero().config.db_path == tmp_path / "project" / "kero"
    assert not (tmp_path / "kero").exists()


def test_a_db_path_of_another_app_is_an_error(settings: Any, kero_settings: dict[str, Any]) -> None:
    from kero_core.app_identity import claim

    Path(kero_settings["DB_PATH"]).mkdir()
    claim(Path(kero_settings["DB_PATH"]), "flask:blog")
    ((check_id, message),) = kero_messages()
    assert check_id == "kero.E003"
    assert "holds the data of another app (flask:blog)" in message
    assert f"give this app (django:{settings.ROOT_URLCONF}) its own db_path" in message
