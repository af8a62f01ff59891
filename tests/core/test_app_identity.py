"""A relative db_path follows the app, not the working directory; two apps on one db_path are
refused with a message naming both, readers claim nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from kero_core import Kero, KeroConfigError
from kero_core.app_identity import CLAIM_FILE, claimed_by
from kero_core.wsgi import KeroMiddleware

ROOT = Path(__file__).resolve().parents[2]


def _site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"ok"]


def test_relative_db_path_is_the_folder_of_the_file_creating_kero(tmp_path: Path) -> None:
    app_dir, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    app_dir.mkdir()
    elsewhere.mkdir()
    (app_dir / "app.py").write_text(textwrap.dedent("""
        from kero_core import Kero
        with Kero(db_path="./kero") as kero:
            kero.track("started")
            print(kero.config.db_path)
    """))
    # Started from another folder, as a service manager or a cron job would.
    done = subprocess.run([sys.executable, str(app_dir / "app.py")], cwd=elsewhere, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == app_dir / "kero"
    assert (app_dir / "kero" / "kero.duckdb").is_file()
    assert list(elsewhere.iterdir()) == []


def test_relative_db_path_against_a_given_root_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="kero"), Kero(db_path="data/kero", root_path=tmp_path) as kero:
        assert kero.config.db_path == tmp_path / "data" / "kero"
    assert f"db_path 'data/kero' is {tmp_path / 'data' / 'kero'}" in caplog.text


def test_an_absolute_db_path_is_kept_and_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="kero"), Kero(db_path=tmp_path / "kero", root_path="/nowhere") as kero:
        assert kero.config.db_path == tmp_path / "kero"
    assert "resolved" not in caplog.text


def _middleware_from(module_name: str, kero: Kero) -> Any:
    """KeroMiddleware created by code of the module ``module_name`` (as an app's wsgi.py would)."""
    module = types.ModuleType(module_name)
    module.__dict__.update(KeroMiddleware=KeroMiddleware, kero=kero, site=_site)
    exec("app = KeroMiddleware(site, kero)", module.__dict__)
    return module.app


def test_a_second_app_on_one_db_path_is_refused(tmp_path: Path) -> None:
    with Kero(db_path=tmp_path / "kero") as blog, Kero(db_path=tmp_path / "kero", retention=1) as shop:
        _middleware_from("blog", blog)
        _middleware_from("blog", blog)  # another worker of the same app
        with pytest.raises(KeroConfigError) as refused:
            _middleware_from("shop", shop)
    message = str(refused.value)
    assert "holds the data of another app (wsgi:blog)" in message
    assert "give this app (wsgi:shop) its own db_path" in message
    assert str(tmp_path / "kero" / CLAIM_FILE) in message
    assert claimed_by(tmp_path / "kero") == "wsgi:blog"


def test_readers_claim_nothing_and_are_not_refused(tmp_path: Path) -> None:
    with Kero(db_path=tmp_path / "kero") as app_kero:
        _middleware_from("blog", app_kero)
    with Kero(db_path=tmp_path / "kero") as reader:
        KeroMiddleware(_site, reader, claim=False)  # as `kero serve` does
        assert reader.count() == 0
    assert claimed_by(tmp_path / "kero") == "wsgi:blog"


def test_a_claim_is_given_up_by_deleting_its_file(tmp_path: Path) -> None:
    with Kero(db_path=tmp_path / "kero") as kero:
        _middleware_from("old_name", kero)
        (tmp_path / "kero" / CLAIM_FILE).unlink()
        _middleware_from("new_name", kero)
    assert claimed_by(tmp_path / "kero") == "wsgi:new_name"


def test_an_unreadable_claim_file_does_not_stop_the_app(tmp_path: Path) -> None:
    (tmp_path / "kero").mkdir()
    (tmp_path / "kero" / CLAIM_FILE).write_text("not json")
    with Kero(db_path=tmp_path / "kero") as kero:
        _middleware_from("blog", kero)
