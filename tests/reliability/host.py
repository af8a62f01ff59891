"""A host app for in-process tests: ``ok_app`` answers 200 to everything, and :class:`Host`
drives it behind KeroMiddleware through werkzeug's WSGI client, counting what it answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from werkzeug.test import Client

from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA


def ok_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The host app: 200 and "ok", whatever the request."""
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
