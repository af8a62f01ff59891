"""A user's own tests: a request made with Django's test client, sync or async, is recorded
exactly once; a streamed one once its content has been read."""

from __future__ import annotations

import pytest
from django.test import AsyncClient, Client

from kero_core import Kero
from tests.django.conftest import run_async


@pytest.mark.django_db
def test_sync_client_records_once(kero: Kero) -> None:
    client = Client()
    assert client.get("/hello/ann").status_code == 200
    assert kero.count() == 1
    response = client.get("/stream/")
    assert kero.count() == 1  # a streamed body: not sent yet
    assert b"".join(response.streaming_content) == b"ab"
    assert kero.count() == 2
    response.close()
    assert sorted((e.path, e.route) for e in kero.query()) == [("/hello/ann", "hello/<str:name>"), ("/stream/", "stream/")]


@pytest.mark.django_db(transaction=True)
def test_async_client_records_once(kero: Kero) -> None:
    async def visit() -> list[int]:
        client = AsyncClient()
        return [(await client.get(path)).status_code for path in ("/hello/ann", "/nap/5/")]

    assert run_async(visit()) == [200, 200]
    assert sorted((e.path, e.route) for e in kero.query()) == [("/hello/ann", "hello/<str:name>"), ("/nap/5/", "nap/<int:ms>/")]
