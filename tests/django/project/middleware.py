"""A sync-only middleware (Django's default for a plain function), for the adaptation test."""

from typing import Any, Callable


def sync_only(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def middleware(request: Any) -> Any:
        return get_response(request)

    return middleware
