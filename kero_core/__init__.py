"""Kero: privacy-friendly, embeddable web analytics for Python web apps.

    from kero_core import Kero
    kero = Kero(db_path="./kero")

The names below are imported on first use, so ``import kero_core.config`` (Django's system
checks, the CLI's --help) does not pay for loading DuckDB and Arrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kero_core.config import KeroConfigError
    from kero_core.kero import Kero
    from kero_core.schema import Event

__all__ = ["Kero", "Event", "KeroConfigError"]
__version__ = "0.1.0"

_HOMES = {"Kero": "kero_core.kero", "Event": "kero_core.schema", "KeroConfigError": "kero_core.config"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'kero_core' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
