"""Kero's own Jinja environment (autoescaping, templates from this package only, never the
host app's) and the static files, with content-hashed URLs so browsers may cache them for good."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from kero_core.dashboard import labels

CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@functools.cache
def static_files() -> dict[str, bytes]:
    """Every file of static/kero/ by name, read once: the set of names the server answers."""
    folder = resources.files("kero_core.dashboard") / "static" / "kero"
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and f.name[f.name.rfind("."):] in CONTENT_TYPES}


@functools.cache
def asset(name: str) -> str:
    """The relative URL of a static file, versioned by its content."""
    digest = hashlib.blake2b(static_files()[name], digest_size=6).hexdigest()
    return f"static/{name}?v={digest}"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kero_core.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset
    env.filters["integer"] = labels.integer
    return env


def render(template: str, **context: Any) -> bytes:
    return environment().get_template(template).render(**context).encode("utf-8")
