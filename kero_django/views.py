"""The dashboard: one view for the page, its assets, the CSV and the JSON API, so every one of
them sits behind the same check. The page itself is rendered by ``kero_core.dashboard``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from kero_core.dashboard import is_shared, respond
from kero_django.access import denial
from kero_django.runtime import get_kero

try:
    from django.contrib.auth.decorators import login_not_required
except ImportError:  # Django < 5.1 has no LoginRequiredMiddleware to opt out of

    def login_not_required(view):  # type: ignore[no-untyped-def]
        return view


@login_not_required  # the view checks access itself (Basic auth must reach it)
@require_safe
def dashboard(request: HttpRequest, subpath: str) -> HttpResponse:
    """Serve ``subpath`` (what follows the include's prefix) of the dashboard."""
    # The core wants what follows its mount point without the slash: "" (it then redirects to
    # the slashed URL, which its relative asset links need), "/" for the page, "/api/...".
    path = request.path_info
    mount = path[: len(path) - len(subpath)].rstrip("/")
    if not is_shared(path[len(mount):]):  # a shared link's URL checks its token instead
        refused = denial(request)
        if refused is not None:
            return refused
    answer = respond(get_kero(), path[len(mount):], dict(request.GET.lists()), request_path=request.path)
    return HttpResponse(answer.body, status=answer.status, headers=answer.headers)
