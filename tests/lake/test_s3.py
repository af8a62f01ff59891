"""The lake's data on S3: a real gunicorn host writes to a local S3-compatible server
(``moto_server``) and another host reads every event back."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.lake.hosts import Ledger, Traffic, lake_host

BUCKET = "kero-lake"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The S3 server with an empty bucket; its endpoint and credentials in the environment (for
    this process and the servers it starts), as Kero reads them."""
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(name, value)
    client().create_bucket(Bucket=BUCKET)
    return s3_server


def client():  # type: ignore[no-untyped-def]
    return boto3.client("s3")  # from the environment the fixture set


@pytest.mark.slow
def test_events_written_to_s3_are_read_back_by_another_host(tmp_path: Path, lake: str, s3: str) -> None:
    data_path = f"s3://{BUCKET}/analytics/"
    ledger = Ledger(tmp_path, lake, data_path)
    try:
        with lake_host("host0", tmp_path, lake, data_path) as host:
            with Traffic([host], per_host=600, seconds=90, tag="s3") as traffic:
                traffic.wait()
            sent = traffic.sent()
            outcome = ledger.delivered(sent)
        print("\n" + outcome.line("S3 data path (moto)"))
        assert traffic.failures() == {}
        assert (outcome.lost, outcome.doubled) == (0, 0) and outcome.stored == len(sent) > 0
        objects = client().list_objects_v2(Bucket=BUCKET, Prefix="analytics/").get("Contents", [])
        assert any(o["Key"].endswith(".parquet") for o in objects), "the events' files must be on S3"
        local = [p for p in tmp_path.rglob("*.parquet") if "spool" not in p.parts]
        assert local == [], "no lake data file on local disk"
    finally:
        ledger.close()
