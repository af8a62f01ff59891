"""Request-thread overhead of Kero: a bare WSGI app vs the same app wrapped by KeroMiddleware,
called in a tight loop in one process, alternated over several rounds. Prints per-request
medians (µs) and the added time. The background writer runs as in production (it is the
request thread's cost we measure, so the writer is given a long interval and drained between
rounds, outside the timed part).

    python benchmarks/request_overhead.py [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any, Callable, Iterable

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware

ENVIRON = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/hello/world", "QUERY_STRING": "utm_source=news",
    "SERVER_NAME": "example.com", "SERVER_PORT": "80", "HTTP_HOST": "example.com",
    "REMOTE_ADDR": "81.2.69.142", "HTTP_X_FORWARDED_FOR": "203.0.113.9",
    "HTTP_USER_AGENT": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9", "HTTP_ACCEPT_ENCODING": "gzip, br",
    "HTTP_REFERER": "https://www.google.com/", "wsgi.url_scheme": "http",
}


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def per_request_us(app: Callable[..., Iterable[bytes]], n: int) -> float:
    environ = dict(ENVIRON)
    started = time.perf_counter()
    for _ in range(n):
        body = app(environ, start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        kero = Kero(db_path=folder, measure_requests=True, flush_interval=3600, max_buffer=args.requests + 1)
        wrapped = KeroMiddleware(bare_app, kero)
        bare, tracked = [], []
        for _ in range(args.rounds):
            bare.append(per_request_us(bare_app, args.requests))
            tracked.append(per_request_us(wrapped, args.requests))
            kero.flush()  # outside the timed part: keeps the buffer from filling up
        stored = kero.count()
        kero.close()
    b, t = statistics.median(bare), statistics.median(tracked)
    print(f"requests per round: {args.requests}, rounds: {args.rounds}")
    print(f"bare app:           {b:8.2f} µs/request (median of rounds)")
    print(f"with KeroMiddleware:{t:8.2f} µs/request")
    print(f"added on the request thread: {t - b:.2f} µs/request (median)")
    print(f"events stored: {stored} (expected {args.requests * args.rounds})")
    if stored != args.requests * args.rounds:
        raise SystemExit("not every tracked request was stored")


if __name__ == "__main__":
    main()
