"""``KeroMiddleware``: Kero for any ASGI 3 app (Starlette, FastAPI, Litestar, Quart, ...).

    from kero_core import Kero
    from kero_core.asgi import KeroMiddleware

    kero = Kero(db_path="./kero", pixel_path="/visit.gif")
    app = KeroMiddleware(app, kero, users={"admin": "secret"})
    # FastAPI / Starlette: app.add_middleware(KeroMiddleware, kero=kero, users={...})

The contract is the WSGI middleware's (:mod:`kero_core.wsgi`): the same tracking rules, pixel
and dashboard. A request is recorded when its last body chunk has been sent (or the app
returned, or raised: a 500), with the status of its ``http.response.start`` and, where the
framework names it in the scope, its route template. ``websocket`` and ``lifespan`` scopes pass
through untouched. On the event loop the middleware only reads the scope and appends a tuple to
the in-memory buffer; the dashboard, which reads the database, renders in a thread.

Nothing to add for a graceful stop: the pipeline writes what it holds when the server is told
to stop (see :mod:`kero_core.shutdown`)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from typing import Any, Awaitable, Callable, Mapping, MutableMapping, TypeVar

from kero_core import own_pages
from kero_core.capture import app_path, environ_from_scope, wsgi_str
from kero_core.dashboard import DashboardResponse
from kero_core.kero import Kero

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
AuthCheck = Callable[[Scope], Any]  # -> bool, or an awaitable of one
T = TypeVar("T")
log = logging.getLogger("kero")

def route_of(scope: Scope) -> str:
    """The route template the framework matched, "" when it names none (a 404, an app that
    does not route). Litestar: ``path_template``; Starlette and FastAPI: the matched route's
    ``path`` (``/items/{item_id}``), behind the path of the mounts it is under. Quart keeps its
    URL rule on its request object, not in the scope: its requests have no route."""
    template = scope.get("path_template")
    if isinstance(template, str):
        return template
    route = scope.get("route")
    if route is None:
        return ""
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return ""
    # Starlette's Mount adds what it matched to root_path; app_root_path is the app's own.
    root, app_root = scope.get("root_path") or "", scope.get("app_root_path") or ""
    if root == app_root:  # not under a Mount: most requests
        return path
    mounted = root[len(app_root):] if root.startswith(app_root) else ""
    return mounted + path


class KeroMiddleware:
    """Wrap the ASGI app ``app``: record its requests, serve the pixel and the dashboard.

    ``users`` maps user names to passwords for the dashboard's HTTP Basic auth; ``auth`` is a
    callable ``(scope) -> bool`` (or an ``async`` one) deciding instead, given the request's
    ASGI scope. With neither, the dashboard answers 403.
    A user with an empty password is a KeroConfigError: it would let anyone in.
    The middleware claims ``db_path`` for the module that created ``kero`` (see
    :mod:`kero_core.app_identity`): a second app on the same folder is refused with a
    KeroConfigError. ``claim=False`` is for readers that serve another app's data (``kero serve``)."""

    def __init__(
        self, app: ASGIApp, kero: Kero, *, users: Mapping[str, str] | None = None, auth: AuthCheck | None = None,
        claim: bool = True,
    ) -> None:
        self.users = own_pages.dashboard_users(kero, users, claim=claim)
        self.app = app
        self.kero = kero
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websocket, lifespan: not page views, nothing to add
            await self.app(scope, receive, send)
            return
        path = app_path(scope)
        if self.kero.rules.is_own(path):
            await self._own(scope, send, path)
            return
        try:
            request = self.kero.request_from_scope(scope, path)
        except Exception:  # a malformed scope: serve the request, untracked
            log.exception("kero: could not record a request")
            request = None
        if request is None:
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(scope, send, self.kero, request)
        try:
            await self.app(scope, receive, tracked.send)
        except BaseException:
            tracked.finish(500)
            raise
        tracked.finish()  # an app that returned without finishing its body

    async def _own(self, scope: Scope, send: Send, path: str) -> None:
        """The pixel, or the dashboard behind its auth (see :mod:`kero_core.own_pages`)."""
        kero = self.kero
        environ = environ_from_scope(scope)
        if path == kero.config.pixel_path:
            kero.record_pixel(environ)
            answer = own_pages.PIXEL
        else:
            if own_pages.is_shared_path(kero, path):
                answer = None if environ["REQUEST_METHOD"] in own_pages.SAFE_METHODS else own_pages.READ_ONLY
            else:
                answer = own_pages.denial(self.users, environ.get("HTTP_AUTHORIZATION"), await self._verdict(scope))
            if answer is None:
                request_path = wsgi_str((scope.get("root_path") or "") + path)
                answer = await _in_thread(own_pages.dashboard, kero, path, environ["QUERY_STRING"], request_path)
        await _send_answer(send, answer, head=environ["REQUEST_METHOD"] == "HEAD")

    async def _verdict(self, scope: Scope) -> bool | None:
        if self.auth is None:
            return None
        verdict = own_pages.ask_auth(self.auth, scope)
        if inspect.isawaitable(verdict):
            try:
                verdict = await verdict
            except Exception:
                log.exception("kero: the dashboard auth callable failed; access refused")
                return False
        return bool(verdict)


async def _send_answer(send: Send, answer: DashboardResponse, *, head: bool) -> None:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else answer.body})


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a thread, so a slow dashboard never stalls the event loop. Under
    asyncio, its default executor; under trio (hypercorn's trio worker), anyio's threads."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(function, *args))
    return await loop.run_in_executor(None, functools.partial(function, *args))


class _Tracked:
    """One tracked request: the ``send`` the app is given, noting the status it starts and
    recording the request once, when its last body chunk is handed to the server. The request's
    fields are read before the app runs (routers rewrite ``path`` and ``root_path`` in the
    scope), its route after.

    An object with slots rather than closures, and a ``send`` that returns the server's own
    awaitable instead of being a coroutine: this runs on every request, and each coroutine
    frame per message costs (see benchmarks/RESULTS.md, ASGI)."""

    __slots__ = ("_scope", "_send", "_kero", "_request", "_status", "_started", "_recorded")

    def __init__(self, scope: Scope, send: Send, kero: Kero, request: tuple[str, ...]) -> None:
        self._scope = scope
        self._request = request
        self._send = send
        self._kero = kero
        self._status = 500  # stays so if the app raises before starting the response
        self._recorded = False
        self._started = time.perf_counter()

    def send(self, message: Message) -> Awaitable[None]:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message.get("status", 500)
        elif (kind == "http.response.body" and not message.get("more_body", False)) or kind == "http.response.pathsend":
            # The response ends here whether the server then sends it or finds the client gone.
            self.finish()
        return self._send(message)

    def finish(self, status: int = 0) -> None:
        """Record the request, once: with ``status``, else the one the app started."""
        if self._recorded:
            return
        self._recorded = True
        try:
            duration = (time.perf_counter() - self._started) * 1000.0
            self._kero.record_scope_request(
                self._request, status=status or self._status, duration_ms=duration, route=route_of(self._scope)
            )
        except Exception:  # a malformed scope: tracking never breaks the app
            log.exception("kero: could not record a request")
