"""The :class:`Kero` facade: the one object users and adapters hold.

It wires config -> capture rules -> pipeline -> store, and answers the read API. Adapters (the
WSGI middleware, Flask, Django) only call :meth:`Kero.record_request`, :meth:`Kero.record_pixel`
and the read methods; they never touch the pipeline or the store."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import duckdb

from kero_core import app_identity, notes, pandas_probe, queries, rollups, shares
from kero_core.notes import Annotation
from kero_core.shares import Share
from kero_core.batch import EventBuilder
from kero_core.capture import (
    DEFAULT_IGNORED_PREFIXES,
    DEFAULT_IGNORED_SUFFIXES,
    MAX_NAME,
    PAGE_VIEW,
    Hit,
    PathRules,
    captured_labels,
    captured_text,
    environ_from_scope,
    fields_from_environ,
    hit_fields,
    hit_from_environ,
    request_from_scope,
    sends_do_not_track,
    wsgi_str,
)
from kero_core.config import Config, make_config
from kero_core.enrich import DEFAULT_IGNORED_AGENTS
from kero_core.logs import Problems
from kero_core.pipeline import Pipeline
from kero_core.writer_process import WriterProcess
from kero_core.queries import Filters, TimeArg
from kero_core.schema import Event
from kero_core.store import Store

log = logging.getLogger("kero")


def environ_of(request: Any) -> Mapping[str, Any]:
    """The WSGI-style environ of a WSGI environ, a werkzeug/Flask request, a Django request, an
    ASGI scope or an ASGI framework's request (its ``scope``: Starlette, FastAPI, Litestar)."""
    if isinstance(request, Mapping):
        return environ_from_scope(request) if request.get("type") in ("http", "websocket") else request
    for attribute in ("environ", "META"):
        environ = getattr(request, attribute, None)
        if isinstance(environ, Mapping):
            return environ
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping) and scope.get("type") in ("http", "websocket"):
        return environ_from_scope(scope)
    raise TypeError(
        "request must be a WSGI environ, a werkzeug/Flask request, a Django request, an ASGI scope "
        f"or a Starlette/FastAPI/Litestar request, got {type(request).__name__}"
    )


def make_store(config: Config, clock: Callable[[], float], read_only: bool = False) -> Store:
    """The single DuckDB file in ``db_path``, or the shared lake when ``lake`` is set."""
    conversions = rollups.Conversions(config.goals, config.funnels)
    if config.lake is None:
        return Store(config.db_path, config.retention, clock, read_only=read_only, conversions=conversions,
                     raw_retention=config.raw_retention)
    from kero_core.lake import LakeStore

    return LakeStore(config.db_path, config.retention, config.lake, config.lake_data_path, clock, conversions)


class Kero:
    """Privacy-friendly analytics for one site, stored under ``db_path``.

    >>> kero = Kero(db_path="./kero", measure_requests=True)   # doctest: +SKIP
    >>> kero.track("signup", {"plan": "pro"})                  # doctest: +SKIP
    >>> kero.count()                                            # page views, all retained time  # doctest: +SKIP

    Options are listed in :data:`kero_core.config.OPTIONS`. A relative ``db_path`` is resolved
    against ``root_path``, by default the folder of the file that creates this Kero (not the working
    directory: see :mod:`kero_core.app_identity`). ``read_only`` reads a database without writing
    anything (a read-only mount or copy): nothing pending is ingested, nothing is pruned or rolled
    up, and nothing can be recorded. ``clock`` (unix seconds) exists for tests.
    """

    def __init__(
        self, db_path: str | Path | None = None, *, root_path: str | Path | None = None,
        read_only: bool = False, clock: Callable[[], float] = time.time, **options: Any,
    ) -> None:
        pandas_probe.install()
        caller = app_identity.caller()
        self.app_name = caller.app  # what the WSGI and ASGI middleware claim db_path under
        root = root_path if root_path is not None else caller.folder
        self.config: Config = make_config(
            db_path=app_identity.resolve_db_path(db_path, root), read_only=read_only, **options,
        )
        if isinstance(db_path, (str, os.PathLike)) and not Path(db_path).expanduser().is_absolute():
            log.info("kero: db_path %r is %s (a relative db_path is resolved against the app's folder, %s)",
                     os.fspath(db_path), self.config.db_path, root)
        self.clock = clock
        self.ignored_prefixes: list[str] = list(DEFAULT_IGNORED_PREFIXES)
        self.ignored_suffixes: list[str] = list(DEFAULT_IGNORED_SUFFIXES)
        self.ignored_agents: list[str] = list(DEFAULT_IGNORED_AGENTS)
        self.rules = PathRules(
            self.config.dashboard_path, self.config.pixel_path, self.config.ignore_web_assets,
            self.ignored_prefixes, self.ignored_suffixes,
        )
        self.store = make_store(self.config, clock, read_only)
        self.problems = Problems()  # what could not be recorded, logged at most once a minute per kind
        self.pipeline = Pipeline(
            self.store,
            self._event_builder,
            self.config.flush_interval,
            self.config.max_buffer,
            hand_to=self._writer_process if self.config.writer_process and not read_only else None,
        )
        if self.config.release is not None:
            self.store.note_release(self.config.release, self.now())

    def claim(self, app: str | None = None) -> None:
        """Mark ``db_path`` as the data of ``app`` (the adapters call this when the app starts;
        by default the module that created this Kero, ``wsgi:<module>``); raises
        :class:`~kero_core.config.KeroConfigError` when another app has claimed it."""
        app_identity.claim(self.config.db_path, app or self.app_name)

    def _writer_process(self) -> WriterProcess:
        return WriterProcess(self.config, self.ignored_agents, self.clock)

    def _event_builder(self) -> EventBuilder:
        return EventBuilder(self.config, self.ignored_agents, self.store.salts(), self.clock)

    # -- recording (request thread: O(1), never raises) -------------------------------------------
    def should_track(self, environ: Mapping[str, Any]) -> bool:
        """Whether a request with this environ is recorded (path rules, DNT/GPC)."""
        if not self.config.ignore_dnt and sends_do_not_track(environ):
            return False
        return self.rules.should_track(str(environ.get("PATH_INFO") or "/"))

    def record_request(
        self, environ: Mapping[str, Any], *, status: int, duration_ms: float | None = None, route: str = ""
    ) -> None:
        """Record a finished request (adapters call this); a no-op for untracked requests."""
        try:
            if self.should_track(environ):
                self.pipeline.record(
                    fields_from_environ(environ, self.clock(), route=route, status=status, duration_ms=duration_ms)
                )
        except Exception as exc:  # tracking must never break the host app
            self.problems.report("request", "kero: could not record a request", exc)

    def request_from_scope(self, scope: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
        """What the ASGI middleware keeps of a request with this ASGI scope and app path while
        the app runs, for :meth:`record_scope_request`; None when it is not tracked (path
        rules, DNT/GPC). The caller has ruled out Kero's own pages."""
        path = wsgi_str(path)
        if self.rules.ignores(path):
            return None
        return request_from_scope(scope, path, not self.config.ignore_dnt)

    def record_scope_request(
        self, request: tuple[str, ...], *, status: int, duration_ms: float | None = None, route: str = ""
    ) -> None:
        """Record a finished request whose fields :meth:`request_from_scope` read."""
        try:
            self.pipeline.record(hit_fields(self.clock(), PAGE_VIEW, route, status, duration_ms, None, 1.0, *request))
        except Exception as exc:  # tracking must never break the host app
            self.problems.report("request", "kero: could not record a request", exc)

    def record_pixel(self, environ: Mapping[str, Any]) -> None:
        """Record the page view a pixel request stands for: the path of its Referer URL."""
        try:
            if not self.config.ignore_dnt and sends_do_not_track(environ):
                return
            referer = str(environ.get("HTTP_REFERER") or "")
            parts = urlsplit(referer)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return
            path = parts.path or "/"
            if not self.rules.should_track(path):
                return
            self.pipeline.record(
                hit_from_environ(environ, self.clock(), path=path, query=parts.query, referrer="", status=200, route="")
            )
        except Exception as exc:  # e.g. a Referer urlsplit() refuses ("http://[<invalid>]/")
            self.problems.report("pixel", "kero: could not record a pixel request", exc)

    def track(self, name: str, labels: Mapping[str, Any] | None = None, value: float = 1.0, *, request: Any = None) -> None:
        """Record a custom event, enriched like a page view when ``request`` is given.

        >>> kero.track("signup", {"plan": "pro"}, request=flask.request)  # doctest: +SKIP
        """
        try:
            if request is None:
                blank = dict.fromkeys(Hit._fields[2:], "")  # no request: method "" marks it
                hit = Hit(**{**blank, "ts": self.clock(), "name": captured_text(name, MAX_NAME), "status": 0,
                             "duration_ms": None, "labels": captured_labels(labels), "value": value})
            else:
                environ = environ_of(request)
                if not self.config.ignore_dnt and sends_do_not_track(environ):
                    return
                hit = hit_from_environ(environ, self.clock(), name=captured_text(name, MAX_NAME),
                                       labels=captured_labels(labels), value=value, referrer="")
            self.pipeline.record(hit)
        except Exception as exc:
            self.pipeline.dropped += 1  # as record() counts a full buffer's drops
            self.problems.report("track", f"kero: could not track event {captured_text(name, 64)!r}", exc)

    def ingest(self, hits: Iterable[Hit], *, batch_size: int = 50_000, progress: Callable[[int], None] | None = None) -> int:
        """Store many hits (an importer's, a generator's) through the writer's batch path, bypassing
        the bounded buffer, and make them queryable, with every past day rolled up (the first
        dashboard view is then as fast as the next). Returns how many events were stored (bots are
        left out with ``ignore_bots``). ``progress`` is called with the number of hits of each batch."""
        builder = self._event_builder()
        stored = 0
        try:
            with self.store.ingesting_alongside() as file_ready:
                batch: list[Hit] = []
                for hit in hits:
                    batch.append(hit)
                    if len(batch) >= batch_size:
                        stored += self._ingest_batch(builder, batch, progress)
                        file_ready()
                        batch = []
                if batch:
                    stored += self._ingest_batch(builder, batch, progress)
        finally:
            builder.close()
        self.store.complete_rollups()
        return stored

    def _ingest_batch(self, builder: EventBuilder, batch: list[Hit], progress: Callable[[int], None] | None) -> int:
        table = builder.build(batch)
        if table.num_rows:
            self.store.spool(table)
        if progress is not None:
            progress(len(batch))
        return table.num_rows

    @property
    def dropped(self) -> int:
        """Events dropped because the in-memory buffer was full."""
        return self.pipeline.dropped

    # -- storing -----------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything this process recorded is stored and queryable.

        Returns False if that could not be done within ``timeout`` seconds (None: no limit)."""
        return self.pipeline.flush(timeout)

    def close(self) -> None:
        """Write what is buffered and stop the background writer. Idempotent."""
        self.pipeline.close()
        self.store.close()

    def __enter__(self) -> "Kero":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def prune(self, older_than: timedelta | None = None) -> int:
        """Delete events older than ``older_than`` (default: the ``retention`` option) now,
        instead of waiting for the hourly pass; returns how many were removed."""
        with self.read() as con:
            return self.store.prune(con, retention=older_than)

    def annotate(self, text: str, at: TimeArg = None) -> Annotation:
        """Note ``text`` on the dashboard's chart at ``at`` (a datetime or unix seconds; None:
        now), e.g. a deploy or a campaign start. Raises ValueError for an empty or long text.

        >>> kero.annotate("v1.4 deployed")                         # doctest: +SKIP
        """
        annotation = Annotation(queries.to_utc(at) or self.now(), notes.checked_text(text))
        with self.read() as con:
            notes.add(con, self.store.append, annotation, self.now())
        return annotation

    def annotations(self, start: TimeArg = None, end: TimeArg = None) -> list[Annotation]:
        """The annotations from ``start`` to ``end`` (both optional), oldest first."""
        with self.read() as con:
            return notes.between(con, queries.to_utc(start), queries.to_utc(end))

    # -- shared links --------------------------------------------------------------------------------
    def create_share(self, filters: str = "", expires: timedelta | None = None) -> tuple[Share, str]:
        """A link that opens a read-only dashboard without credentials, locked to ``filters`` (a
        query string such as ``"country=CH&path!=/admin"``), until ``expires`` has passed.
        Returns the link and its token (shown once: only its hash is stored); its URL is
        ``<dashboard_path>/share/<token>/``. Raises ValueError for bad filters."""
        from kero_core.dashboard.view import locked_filters  # the dashboard knows what a filter is

        locked = locked_filters(filters)
        if expires is not None and expires <= timedelta(0):
            raise ValueError(f"a shared link must expire in the future, got {expires}")
        query = shares.normalized_filters({f.param: [f.value] for f in locked})
        with self.read() as con:
            return shares.create(con, self.store.append, query, expires, self.now())

    def shares(self) -> list[Share]:
        """Every shared link, oldest first (see :meth:`Share.status`)."""
        with self.read() as con:
            return [share for share, _ in shares.listed(con)]

    def revoke_share(self, id: str) -> Share | None:
        """Revoke the shared link ``id`` at once; None when there is no such link."""
        with self.read() as con:
            return shares.revoke(con, self.store.append, id, self.now())

    # -- reading -----------------------------------------------------------------------------------
    @contextmanager
    def read(self, wait: float | None = 30.0, *, shared: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that sees everything recorded so far by this process (read-your-writes).

        For the queries module and the dashboard; hold it briefly: other processes wait. With
        ``shared`` (queries only, no writes), readers do not wait for each other: when another
        session is ingesting, it reads what is stored already (see :meth:`Store.reading`)."""
        self.pipeline.write()
        with (self.store.reading(wait) if shared else self.store.session(wait=wait)) as con:
            yield con

    def now(self) -> datetime:
        """The current time of Kero's clock, as a naive UTC datetime."""
        return queries.to_utc(self.clock())  # type: ignore[return-value]

    def _where(self, name: str | None, filters: Filters | None, start: TimeArg, end: TimeArg) -> queries.Where:
        return queries.where(name, filters, start, end)

    def count(self, name: str | None = "http_req", filters: Filters | None = None, start: TimeArg = None, end: TimeArg = None) -> int:
        """Number of events (page views by default)."""
        w = self._where(name, filters, start, end)
        with self.read() as con:
            return queries.count(con, w)

    def count_visitors(self, name: str | None = "http_req", filters: Filters | None = None, start: TimeArg = None, end: TimeArg = None) -> int:
        """Number of distinct visitors (ids rotate daily, so a visitor is counted once per day)."""
        w = self._where(name, filters, start, end)
        with self.read() as con:
            return queries.count_visitors(con, w)

    def query(self, name: str | None = "http_req", filters: Filters | None = None, start: TimeArg = None, end: TimeArg = None, limit: int = 1000) -> list[Event]:
        """Stored events, newest first."""
        w = self._where(name, filters, start, end)
        with self.read() as con:
            return queries.events(con, w, limit)

    def top(self, dimension: str, name: str | None = "http_req", filters: Filters | None = None, start: TimeArg = None, end: TimeArg = None, metric: str = "visitors", limit: int = 10) -> list[tuple[str, float]]:
        """The top values of ``dimension`` by ``metric`` (visitors, events, avg_duration, p95_duration)."""
        w = self._where(name, filters, start, end)
        with self.read() as con:
            return queries.top(con, dimension, w, metric, limit)

    def histogram(self, name: str | None = "http_req", start: TimeArg = None, end: TimeArg = None, metric: str = "events", filters: Filters | None = None) -> list[tuple[datetime, int]]:
        """Counts per bucket (hours up to 3 days, days up to 31, weeks up to 93, months up to ten years, else years), zeros included."""
        end_dt = queries.to_utc(end) or self.now() + timedelta(microseconds=1)
        with self.read() as con:
            start_dt = queries.to_utc(start) or queries.first_event_time(con, name) or (end_dt - timedelta(days=1))
            return queries.histogram(con, name, filters, start_dt, end_dt, metric)
