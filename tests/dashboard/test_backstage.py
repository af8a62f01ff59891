"""Every adapter's dashboard renders on the dashboard's own threads, at a lower CPU priority than
the app's (see kero_core.dashboard.backstage): respond() (Flask, Django), the WSGI and the ASGI
middleware."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from werkzeug.test import Client

from kero_core import Kero, dashboard
from kero_core.asgi import KeroMiddleware as AsgiMiddleware
from kero_core.dashboard import backstage
from kero_core.wsgi import KeroMiddleware as WsgiMiddleware
from tests.dashboard.conftest import ADMIN, call, site

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own niceness is Linux's")


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(thread name, its niceness) of every dashboard answer rendered."""
    seen: list[tuple[str, int]] = []
    real = dashboard.answer

    def answer(*args: Any) -> Any:
        seen.append((threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return real(*args)

    monkeypatch.setattr(dashboard, "answer", answer)
    return seen


def lowered() -> int:
    return min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + backstage.NICENESS)


async def asgi_site(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def test_every_adapter_renders_on_a_lowered_dashboard_thread(kero: Kero, renders: list[tuple[str, int]]) -> None:
    assert call(kero, "/").status == 200
    assert Client(WsgiMiddleware(site, kero, users={"admin": "secret"}, claim=False)).get("/_kero/", headers=ADMIN).status_code == 200

    async def over_asgi() -> int:
        transport = httpx.ASGITransport(app=AsgiMiddleware(asgi_site, kero, users={"admin": "secret"}, claim=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://example.com") as client:
            return (await client.get("/_kero/", headers=ADMIN)).status_code

    assert asyncio.run(over_asgi()) == 200
    assert len(renders) == 3
    assert all(name.startswith("kero-dashboard") and niceness == lowered() for name, niceness in renders), renders
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == lowered() - backstage.NICENESS  # the app's thread: untouched


def test_a_failing_render_raises_to_its_caller(kero: Kero, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("render failed")

    monkeypatch.setattr(dashboard, "answer", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        call(kero, "/")


def test_a_forked_child_renders_on_threads_of_its_own(kero: Kero) -> None:
    assert backstage.run(threading.get_native_id) != threading.get_native_id()  # the pool exists before the fork
    pid = os.fork()
    if pid == 0:  # the child: its pool object came along, its threads did not
        code = 0
        try:
            code = 0 if call(kero, "/").status == 200 else 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the child's render never ran: its pool had no threads")
    assert os.waitstatus_to_exitcode(done[1]) == 0
