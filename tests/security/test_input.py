"""Hostile input at the security level, beyond tests/core/test_bad_input.py: property-based
tests over capture *and* enrichment (the writer's batch) with lone surrogates, 100 KB paths,
IPv6 garbage in X-Forwarded-For, and arbitrary custom event names and labels. Every hit is
stored (none rejected), every stored string is valid UTF-8 and within its documented bound.
Also: each bad configuration value gives one clear error naming its option."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kero_core import Kero, KeroConfigError
from kero_core.batch import EventBuilder
from kero_core.capture import MAX_LABEL, MAX_LABELS, MAX_NAME, MAX_PATH, MAX_REFERRER, Hit, hit_from_environ
from kero_core.config import make_config
from kero_core.enrich import DEFAULT_IGNORED_AGENTS, SaltStore
from tests.conftest import environ
from tests.reliability.disks import mounted_tmpfs

# Bounds of the stored columns (README, "What is stored"); parsed fields are short by nature.
BOUNDS = {"path": MAX_PATH, "route": MAX_PATH, "referrer": MAX_REFERRER, "name": MAX_NAME, "method": MAX_NAME,
          **{f"utm_{k}": 256 for k in ("source", "medium", "campaign", "term", "content")},
          **{k: 253 for k in ("referrer_domain",)},
          **{k: 128 for k in ("browser", "browser_version", "os", "os_version", "device", "country", "region", "city")}}

wsgi_text = st.text(alphabet=st.characters(codec="latin-1"), max_size=200)  # what WSGI servers put in environ
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)  # lone surrogates included
huge = st.builds(lambda chunk, n: chunk * n, st.text(min_size=1, max_size=8), st.integers(5_000, 13_000))
paths = st.one_of(wsgi_text.map(lambda p: "/" + p), huge.map(lambda p: "/" + p), any_text.map(lambda p: "/" + p),
                  st.text(alphabet="%0123456789abcdefABCDEFxz/.", max_size=300).map(lambda p: "/" + p))
ipv6_garbage = st.one_of(
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:{443}"),
    st.text(alphabet="0123456789abcdefABCDEF:[]%.g ", max_size=60),
    st.just("fe80::1%eth0"), st.just("::ffff:81.2.69.142"), st.just("[::1"), st.just("unknown"),
)
forwarded_for = st.lists(ipv6_garbage, max_size=12).map(", ".join)
label_values = st.one_of(any_text, huge, st.integers(), st.floats(), st.none(), st.binary(max_size=50),
                         st.lists(st.integers(), max_size=3))
labels = st.one_of(st.none(), st.dictionaries(st.one_of(any_text, huge), label_values, max_size=40))


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> EventBuilder:
    from _maxminddb_geolite2 import geolite2_database

    folder = tmp_path_factory.mktemp("input")
    config = make_config(db_path=folder, geoip_db=geolite2_database(), measure_requests=True, trusted_proxies=1)
    return EventBuilder(config, list(DEFAULT_IGNORED_AGENTS), SaltStore(folder / "salts"))


def assert_storable(table: pa.Table, expected_rows: int) -> None:
    assert table.num_rows == expected_rows, "no hit may be rejected"
    for column, bound in BOUNDS.items():
        for value in table.column(column).to_pylist():
            assert len(value or "") <= bound, (column, value[:80])
            (value or "").encode("utf-8")  # raises on a lone surrogate
    for text in table.column("labels").to_pylist():
        if text:
            parsed = json.loads(text)
            assert len(parsed) <= MAX_LABELS
            assert all(len(k) <= MAX_LABEL and len(v) <= MAX_LABEL for k, v in parsed.items())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(path=paths, query=st.one_of(wsgi_text, huge), method=st.one_of(st.just("GET"), any_text),
       ua=st.one_of(wsgi_text, huge, any_text), referer=st.one_of(wsgi_text, any_text, huge.map(lambda s: "https://a.b/" + s)),
       lang=st.one_of(wsgi_text, huge), xff=forwarded_for, remote=ipv6_garbage)
def test_any_request_is_stored_bounded_and_valid(builder: EventBuilder, path: str, query: str, method: str, ua: str,
                                                  referer: str, lang: str, xff: str, remote: str) -> None:
    env = environ(path, QUERY_STRING=query, REQUEST_METHOD=method or "GET", HTTP_USER_AGENT=ua, HTTP_REFERER=referer,
                  HTTP_ACCEPT_LANGUAGE=lang, HTTP_X_FORWARDED_FOR=xff, REMOTE_ADDR=remote)
    hit = hit_from_environ(env, 1_790_000_000.0, route=path, status=200, duration_ms=1.0)
    assert_storable(builder.build([hit]), 1)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.one_of(any_text, huge), event_labels=labels, value=st.one_of(st.floats(), st.integers(), st.none()),
       with_request=st.booleans())
def test_any_custom_event_is_stored_bounded_and_valid(builder: EventBuilder, name: str, event_labels: Any,
                                                       value: Any, with_request: bool) -> None:
    if with_request:
        hit = hit_from_environ(environ("/"), 1_790_000_000.0, name=name, labels=event_labels, value=value)
    else:
        blank = dict.fromkeys(Hit._fields[2:], "")
        hit = Hit(**{**blank, "ts": 1_790_000_000.0, "name": name[:MAX_NAME], "status": 0, "duration_ms": None,
                     "labels": event_labels, "value": value})
    table = builder.build([hit])
    assert_storable(table, 1)
    assert math.isfinite(table.column("value")[0].as_py())


def test_hostile_input_end_to_end_through_duckdb(make_kero: Callable[..., Kero]) -> None:
    """The same kinds of input through the public API into the database and back."""
    kero = make_kero(measure_requests=True, trusted_proxies=1)
    kero.record_request(environ("/" + "p" * 100_000, HTTP_X_FORWARDED_FOR="[::1, fe80::1%eth0, ::ffff:1.2.3.4"),
                        status=200)
    kero.record_request(environ("/caf\udce9/\ud800", REQUEST_METHOD="G\ud800T", HTTP_USER_AGENT="x\udcff"),
                        status=200, route="/r/\udc80")
    kero.track("signup\ud800" + "n" * 500, {"k\udc80" * 300: "v\ud800" * 300, **{str(i): i for i in range(100)}})
    kero.track("plain", {"bytes": b"\xff\x00", "none": None, "nan": float("nan")}, value=float("inf"))
    events = kero.query(name=None)
    assert len(events) == 4 and kero.dropped == 0
    for event in events:
        for column, bound in BOUNDS.items():
            value = getattr(event, column)
            assert len(value) <= bound, (column, value[:80])
            value.encode("utf-8")
        assert len(event.labels) <= MAX_LABELS and math.isfinite(event.value)


# -- configuration ---------------------------------------------------------------------------------

def _config_error(tmp_path: Path, **options: Any) -> str:
    options.setdefault("db_path", tmp_path / "kero")
    with pytest.raises(KeroConfigError) as raised:
        Kero(**options)
    error = raised.value  # one error, no chained traceback behind it
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return str(raised.value)


@pytest.mark.parametrize(("option", "value"), [
    ("retention", -1), ("retention", timedelta(days=-1)), ("retention", 0), ("retention", "15d"),
    ("dashboard_path", "kero"), ("dashboard_path", "/"), ("dashboard_path", "https://example.com/kero"),
    ("pixel_path", "visit.gif"), ("flush_interval", 0), ("flush_interval", -1), ("max_buffer", 0),
    ("trusted_proxies", -1), ("trusted_proxies", "1"), ("ignore_bots", "yes"), ("measure_requests", 1),
    ("flush_interval", math.nan), ("flush_interval", math.inf), ("flush_interval", 1e300),
    ("max_buffer", math.inf), ("max_buffer", 1.5), ("retention", math.nan), ("retention", math.inf),
    ("retention", 1e20), ("retention", timedelta(days=10**6)),
])
def test_a_bad_value_is_one_sentence_naming_the_option(tmp_path: Path, option: str, value: Any) -> None:
    message = _config_error(tmp_path, **{option: value})
    assert message.startswith(option) and message.endswith(".") and "\n" not in message, message


def test_a_folder_given_as_geoip_file(tmp_path: Path) -> None:
    message = _config_error(tmp_path, geoip_db=tmp_path)
    assert message.startswith("geoip_db") and "is a folder" in message


def test_a_file_that_is_not_a_geoip_database(tmp_path: Path) -> None:
    (tmp_path / "fake.mmdb").write_bytes(b"not a MaxMind database")
    assert _config_error(tmp_path, geoip_db=tmp_path / "fake.mmdb").startswith("geoip_db")


def test_an_unwritable_db_path(tmp_path: Path) -> None:
    """As root, chmod stops nothing: a read-only mount does."""
    with mounted_tmpfs(tmp_path / "ro", "1m") as disk:
        (disk.path / "kero").mkdir()
        disk.remount("ro")
        existing = _config_error(tmp_path, db_path=disk.path / "kero")
        missing = _config_error(tmp_path, db_path=disk.path / "new")
    assert existing == f"db_path {str(disk.path / 'kero')!r} is not writable by this process."
    assert missing.startswith("db_path") and "cannot be created" in missing
