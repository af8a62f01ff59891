"""Where KeroMiddleware's µs go inside the FastAPI hello-world of asgi_overhead.py: the same
loop and the same figures (``in_process`` of asgi_overhead.py: variants in turns every 200
requests, thread CPU added over bare, medians of per-round differences). Each variant leaves
out one part:

- ``structure``: the middleware's own work (app path, own-page check, the ``send`` wrapper) with
  neither capture nor record;
- ``no record``: Kero with its record stubbed out (capture, route and duration still done);
- ``no capture``: Kero with its capture stubbed out (a request captured once, reused);
- ``kero``: all of it.

So the capture costs about ``kero`` − ``no capture``, the record ``kero`` − ``no record``.

    python benchmarks/asgi_breakdown.py [--requests 4000] [--rounds 15] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from typing import Any

from asgi_overhead import SCOPE, fastapi_app, in_process

from kero_core import Kero
from kero_core.asgi import KeroMiddleware, _Tracked
from kero_core.capture import app_path


class Structure(KeroMiddleware):
    """The middleware with neither capture nor record: what its structure costs."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.kero.rules.is_own(app_path(scope)):
            await self.app(scope, receive, send)
            return
        tracked = _Unrecorded(scope, send, self.kero, ())
        try:
            await self.app(scope, receive, tracked.send)
        except BaseException:
            tracked.finish(500)
            raise
        tracked.finish()


class _Unrecorded(_Tracked):
    __slots__ = ()

    def finish(self, status: int = 0) -> None:
        self._recorded = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.rounds = 200, 2
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        def kero(name: str) -> Kero:
            return Kero(db_path=os.path.join(tmp, name), measure_requests=True, flush_interval=3600)

        full, no_record, no_capture = kero("full"), kero("no-record"), kero("no-capture")
        no_record.record_scope_request = lambda request, **fields: None  # type: ignore[method-assign]
        captured = no_capture.request_from_scope(dict(SCOPE), app_path(SCOPE))
        no_capture.request_from_scope = lambda scope, path: captured  # type: ignore[method-assign]
        apps = {"bare": fastapi_app("bare"), "structure": fastapi_app("kero", full, Structure),
                "no record": fastapi_app("kero", no_record), "no capture": fastapi_app("kero", no_capture),
                "kero": fastapi_app("kero", full)}
        title = "FastAPI hello-world, each part of Kero left out in turn"
        asyncio.run(in_process(title, apps, [full, no_capture], args.requests, args.rounds))  # both record every request
        for each in (full, no_record, no_capture):
            each.close()
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
