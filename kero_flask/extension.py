"""The ``Kero`` Flask extension: ``init_app`` wiring of one core :class:`kero_core.Kero` per app."""

from __future__ import annotations

import weakref
from typing import Any, Callable, Mapping

import flask
from flask import Flask, current_app, has_app_context, has_request_context

from kero_core import Kero as CoreKero
from kero_core import KeroConfigError
from kero_core.app_identity import module_name
from kero_flask.settings import flask_error, read_settings
from kero_flask.tracking import TrackingMiddleware
from kero_flask.views import make_blueprint


class Kero:
    """Kero for Flask: tracks every request, serves the dashboard and the pixel.

    >>> kero = Kero(app)                          # doctest: +SKIP
    >>> kero = Kero(); kero.init_app(app)         # doctest: +SKIP  (application factory)

    Settings are the ``KERO_*`` keys of ``app.config``, read once by :meth:`init_app`. ``auth``
    is a callable without arguments, run inside the request context, that decides who may see
    the dashboard instead of HTTP Basic auth (e.g. ``lambda: current_user.is_admin``).

    Every attribute of :class:`kero_core.Kero` (``count``, ``top``, ``query``, ``histogram``,
    ``flush``, ``ignored_prefixes``, ``config``...) is available on the extension and answers for
    the current app (or, outside an app context, for the app given to the constructor)."""

    def __init__(self, app: Flask | None = None, *, auth: Callable[[], bool] | None = None) -> None:
        self.auth = auth
        self._app = app
        # Per-app cores, keyed weakly so an app that is dropped (tests, factories) frees its core.
        self._cores: weakref.WeakKeyDictionary[Flask, CoreKero] = weakref.WeakKeyDictionary()
        if app is not None:
            self._setup(app)

    def init_app(self, app: Flask) -> None:
        """Read ``app``'s ``KERO_*`` settings, create its core, and mount tracking, dashboard and pixel.

        Raises :class:`kero_core.KeroConfigError` naming the ``app.config`` key of a bad setting,
        and RuntimeError when Kero is already registered on ``app``. Opens no database and starts
        no thread: that happens on the first recorded request, after any pre-fork."""
        self._setup(app)

    def _setup(self, app: Flask) -> None:
        """init_app's work, one call deep from both public entry points, so that a settings
        warning points at the user's ``Kero(app)`` or ``kero.init_app(app)`` line."""
        if "kero" in app.extensions:
            raise RuntimeError("Kero is already registered on this Flask app; call init_app once per app.")
        settings = read_settings(app.config, warning_stacklevel=4)
        try:
            # A relative KERO_DB_PATH belongs to the app, wherever it is started from.
            core = CoreKero(root_path=app.root_path, **settings.options)
            core.claim("flask:" + module_name(app.import_name))
        except KeroConfigError as error:
            raise flask_error(error) from None
        # The blueprint first: Flask refuses it on an app that has already served a request,
        # and then nothing else must have been changed.
        app.register_blueprint(make_blueprint(core, settings.users, self.auth))
        app.wsgi_app = TrackingMiddleware(app, core)  # type: ignore[method-assign]
        app.extensions["kero"] = self
        self._cores[app] = core

    @property
    def core(self) -> CoreKero:
        """The :class:`kero_core.Kero` of the current app (the one this extension made for it)."""
        if has_app_context():
            app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
            core = self._cores.get(app)
            if core is None:
                raise RuntimeError(f"Kero is not initialised on the current app {app.name!r}; call kero.init_app(app).")
            return core
        if self._app is not None:
            return self._cores[self._app]
        raise RuntimeError(
            "Kero needs an app context to know which app's data to use: run this inside a request, "
            "a CLI command or `with app.app_context():`."
        )

    def track(self, name: str, labels: Mapping[str, Any] | None = None, value: float = 1.0, *, request: Any = None) -> None:
        """Record a custom event; inside a request it is enriched from that request
        (browser, country, referrer, campaign...). A failure to record is logged, never raised.

        >>> kero.track("signup", {"plan": "pro"})      # doctest: +SKIP"""
        if request is None and has_request_context():
            request = flask.request.environ
        self.core.track(name, labels, value, request=request)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.core, name)
