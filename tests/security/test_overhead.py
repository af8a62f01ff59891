"""A hostile request must not be expensive to record: a 20 KB User-Agent or path costs the
request thread well under 5 ms more than an ordinary one (capture only cuts strings; parsing
happens in the background writer, on at most 512 characters of User-Agent)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Iterable

import pytest

from kero_core import Kero
from kero_core.batch import EventBuilder
from kero_core.capture import hit_from_environ
from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA, environ
from tests.reliability.host import ok_app

BIG = 20_000
ROUNDS = 400


def request_ms(app: Callable[..., Iterable[bytes]], env: dict[str, Any]) -> float:
    """One WSGI request as a server runs it: call, read the body, close (when Kero records)."""
    started = time.perf_counter()
    body = app(dict(env), lambda status, headers, exc_info=None: None)
    for _ in body:
        pass
    getattr(body, "close", lambda: None)()
    return (time.perf_counter() - started) * 1000


@pytest.mark.alone
def test_a_20_kb_user_agent_or_path_costs_the_request_under_5_ms(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(flush_interval=3600, max_buffer=10 * ROUNDS)  # the writer stays asleep: request thread only
    app = KeroMiddleware(ok_app, kero)
    kinds = {
        "no kero": (ok_app, environ("/page")),
        "ordinary": (app, environ("/page")),
        "20 KB User-Agent": (app, environ("/page", HTTP_USER_AGENT="Mozilla/5.0 (" + "x" * BIG + ")")),
        "20 KB path": (app, environ("/" + "p" * BIG)),
        "20 KB of every header": (app, environ("/" + "p" * BIG, HTTP_USER_AGENT="u" * BIG, HTTP_REFERER="https://a.b/" + "r" * BIG,
                                               HTTP_X_FORWARDED_FOR="1.2.3.4, " * (BIG // 9), QUERY_STRING="q=" + "q" * BIG)),
    }
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(ROUNDS):  # interleaved, so a busy moment of the machine hits every kind alike
        for kind, (wsgi, env) in kinds.items():
            timings[kind].append(request_ms(wsgi, env))
    median = {kind: statistics.median(values) for kind, values in timings.items()}
    extra = {kind: median[kind] - median["ordinary"] for kind in kinds if kind.startswith("20 KB")}
    print("\n[request thread] median per request: " + ", ".join(f"{k} {v * 1000:.1f} µs" for k, v in median.items())
          + " | extra over ordinary: " + ", ".join(f"{k} {v * 1000:+.1f} µs" for k, v in extra.items()))
    assert all(value < 5.0 for value in extra.values())


def test_the_writer_parses_at_most_512_characters_of_user_agent(make_kero: Callable[..., Kero]) -> None:
    """The background cost, printed: 1,000 distinct 20 KB User-Agents (no cache hit)."""
    kero = make_kero()
    builder = EventBuilder(kero.config, kero.ignored_agents, kero.store.salts())
    try:
        builder.warm_up()
        hits = [hit_from_environ(environ("/", HTTP_USER_AGENT=f"{CHROME_UA} {i} " + "x" * BIG), time.time()) for i in range(1000)]
        started = time.perf_counter()
        table = builder.build(hits)
        per_hit = (time.perf_counter() - started) / len(hits) * 1e6
    finally:
        builder.close()
    print(f"\n[writer] 1,000 distinct 20 KB User-Agents enriched at {per_hit:.0f} µs per hit")
    assert table.num_rows == 1000 and all(len(h.user_agent) == 512 for h in hits)
