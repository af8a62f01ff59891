"""The FastAPI hello-world of the ASGI benchmark, in the variant named by KERO_BENCH_VARIANT:
``bare``; ``kero`` (KeroMiddleware as documented, its data in KERO_BENCH_DATA); ``peer``
(prometheus-fastapi-instrumentator, what FastAPI users commonly add for request monitoring)."""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/hello/{name}", response_class=PlainTextResponse)
async def hello(name: str) -> str:
    return f"Hello, {name}!"


VARIANT = os.environ.get("KERO_BENCH_VARIANT", "bare")
if VARIANT == "kero":
    from kero_core import Kero
    from kero_core.asgi import KeroMiddleware

    kero = Kero(db_path=os.path.join(os.environ["KERO_BENCH_DATA"], "kero"), measure_requests=True)
    app.add_middleware(KeroMiddleware, kero=kero)
elif VARIANT == "peer":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app)
