"""Optional, for ASGI servers: close Kero during the lifespan shutdown.

    # asgi.py
    from django.core.asgi import get_asgi_application
    from kero_django.asgi import with_lifespan

    application = with_lifespan(get_asgi_application())

Not needed for a graceful stop: uvicorn re-raises SIGTERM after its graceful shutdown with the
default handler, so the process ends without running exit handlers, but Kero stands in front of
the server's signal handlers and writes what it holds first (``kero_core.shutdown``). Django's
ASGI handler does not speak the lifespan protocol; this wrapper does, and closes the process's
Kero (which writes what it holds) on ``lifespan.shutdown``, for apps that want that as well.
Other requests pass through."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

from asgiref.sync import sync_to_async

from kero_django import runtime

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_lifespan(application: ASGIApp) -> ASGIApp:
    """``application`` answering the ASGI lifespan protocol, closing Kero at shutdown."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await application(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await sync_to_async(runtime.reset, thread_sensitive=False)()  # writes, then closes
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app
