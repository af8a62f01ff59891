"""KERO_DB_PATH: a relative path is the app's (app.root_path), whatever the working directory;
a second app on the same folder is refused at init_app, naming both apps and the key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from kero_flask import Kero, KeroConfigError


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for app in made:
        if "kero" in app.extensions:
            with app.app_context():
                app.extensions["kero"].close()


def test_a_relative_db_path_is_under_the_apps_root_path(tmp_path: Path, apps: list[Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # started from another folder
    app = Flask("blog", root_path=str(tmp_path / "blog"))
    app.config["KERO_DB_PATH"] = "./kero"
    Kero(app)
    apps.append(app)
    with app.app_context():
        assert app.extensions["kero"].config.db_path == tmp_path / "blog" / "kero"
    assert (tmp_path / "blog" / "kero").is_dir()
    assert os.listdir(elsewhere) == []


def test_a_second_app_on_one_db_path_is_refused(tmp_path: Path, apps: list[Flask]) -> None:
    blog, shop = Flask("blog"), Flask("shop")
    for app in (blog, shop):
        app.config["KERO_DB_PATH"] = str(tmp_path / "kero")
    Kero(blog)
    apps.append(blog)
    with pytest.raises(KeroConfigError, match=r"KERO_DB_PATH '.*' holds the data of another app \(flask:blog\).*"
                                              r"give this app \(flask:shop\) its own KERO_DB_PATH"):
        Kero(shop)
    assert "kero" not in shop.extensions


def test_the_same_app_made_again_by_a_factory_is_not_refused(tmp_path: Path, apps: list[Flask]) -> None:
    for _ in range(2):
        app = Flask("blog")
        app.config["KERO_DB_PATH"] = str(tmp_path / "kero")
        Kero(app)
        apps.append(app)
