"""Kero: privacy-friendly, embeddable web analytics for Python web apps.

    from kero_core import Kero
    kero = Kero(db_path="./kero")
"""

from kero_core.config import KeroConfigError
from kero_core.kero import Kero
from kero_core.schema import Event

__all__ = ["Kero", "Event", "KeroConfigError"]
__version__ = "0.1.0"
