"""Page views of a Flask app under a real server: GET and HEAD are page views, a form's POST
and an API's PUT only count in the routes and status cards (tests/page_views.py)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, redirect, request
from werkzeug.wrappers import Response

from kero_flask import Kero
from tests.page_views import assert_form_and_api_counted, visit_form_and_api


def test_only_get_and_head_are_page_views(tmp_path: Path) -> None:
    db_path = tmp_path / "kero"
    app = Flask(__name__)
    app.config.update(KERO_DB_PATH=str(db_path))
    kero = Kero(app)

    @app.route("/form", methods=["GET", "POST"])
    def form() -> Response | str:
        return redirect("/thanks", 303) if request.method == "POST" else "<form method=post></form>"

    @app.get("/thanks")
    def thanks() -> str:
        return "thanks"

    @app.put("/api/items/<int:item>")
    def put_item(item: int) -> tuple[str, int]:
        return "", 204

    try:
        visit_form_and_api(app)
    finally:
        with app.app_context():
            kero.close()
    assert_form_and_api_counted(db_path, put_route="/api/items/<int:item>")
