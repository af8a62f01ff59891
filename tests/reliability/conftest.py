"""Fixtures of the fault tests: a small disk of their own (see ``disks``), a plain WSGI host
app, and a client that counts what that app answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest
from werkzeug.test import Client

from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA
from tests.reliability.disks import SmallDisk, mounted_tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 2 MB tmpfs, unmounted after the test."""
    with mounted_tmpfs(tmp_path / "disk", "2m") as disk:
        yield disk


def ok_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The host app: answers 200 to everything."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@dataclass
class Host:
    """``ok_app`` behind KeroMiddleware, called through werkzeug's WSGI client."""

    app: KeroMiddleware
    statuses: list[int] = field(default_factory=list)

    def get(self, count: int, prefix: str = "/page", **headers: str) -> None:
        client = Client(self.app)
        for i in range(count):
            response = client.get(f"{prefix}/{i}", headers={"User-Agent": CHROME_UA, **headers},
                                  environ_base={"REMOTE_ADDR": "81.2.69.142"}, buffered=True)
            self.statuses.append(response.status_code)

    @property
    def sent(self) -> int:
        """Requests the app answered with 200."""
        return self.statuses.count(200)

    @property
    def errors(self) -> int:
        return len(self.statuses) - self.sent
