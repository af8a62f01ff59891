"""Kero for Flask: privacy-friendly analytics configured from ``app.config``.

    from flask import Flask
    from kero_flask import Kero

    app = Flask(__name__)
    app.config["KERO_DB_PATH"] = "./kero"
    kero = Kero(app)          # or, in an application factory: kero = Kero(); kero.init_app(app)
"""

from kero_core import KeroConfigError
from kero_flask.extension import Kero
from kero_flask.settings import KeroConfigWarning

__all__ = ["Kero", "KeroConfigError", "KeroConfigWarning"]
