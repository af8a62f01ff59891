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


def _app_of(module_name: str, db_path: Path) -> Any:
    """The module ``module_name`` of an app (as an app's wsgi.py would be): it creates its Kero and
    wraps its site with KeroMiddleware. Returns the module's namespace."""
    module = types.ModuleType(module_name)
    module.__dict__.update(Kero=Kero, KeroMiddleware=KeroMiddleware, site=_site, db_path=db_path)
    exec("kero = Kero(db_path=db_path)\napp = KeroMiddleware(site, kero)", module.__dict__)
    return module


def test_a_second_app_on_one_db_path_is_refused(tmp_path: Path) -> None:
    blog = _app_of("blog", tmp_path / "kero")
    other_worker = _app_of("blog", tmp_path / "kero")  # another process of the same app
    with pytest.raises(KeroConfigError) as refused:
        _app_of("shop", tmp_path / "kero")
    for module in (blog, other_worker):
        module.kero.close()
    message = str(refused.value)
    assert "holds the data of another app (wsgi:blog)" in message
    assert "give this app (wsgi:shop) its own db_path" in message
    assert str(tmp_path / "kero" / CLAIM_FILE) in message
    assert claimed_by(tmp_path / "kero") == "wsgi:blog"


def test_the_app_is_where_its_kero_is_created_not_where_the_middleware_is(tmp_path: Path) -> None:
    """Starlette's add_middleware builds the middleware inside Starlette, at the first call."""
    module = types.ModuleType("blog")
    module.__dict__.update(Kero=Kero, db_path=tmp_path / "kero")
    exec("kero = Kero(db_path=db_path)", module.__dict__)
    KeroMiddleware(_site, module.kero)
    module.kero.close()
    assert claimed_by(tmp_path / "kero") == "wsgi:blog"


def test_readers_claim_nothing_and_are_not_refused(tmp_path: Path) -> None:
    _app_of("blog", tmp_path / "kero").kero.close()
    with Kero(db_path=tmp_path / "kero") as reader:
        KeroMiddleware(_site, reader, claim=False)  # as `kero serve` does
        assert reader.count() == 0
    assert claimed_by(tmp_path / "kero") == "wsgi:blog"


def test_a_claim_is_given_up_by_deleting_its_file(tmp_path: Path) -> None:
    _app_of("old_name", tmp_path / "kero").kero.close()
    (tmp_path / "kero" / CLAIM_FILE).unlink()
    _app_of("new_name", tmp_path / "kero").kero.close()
    assert claimed_by(tmp_path / "kero") == "wsgi:new_name"


def test_an_unreadable_claim_file_does_not_stop_the_app(tmp_path: Path) -> None:
    (tmp_path / "kero").mkdir()
    (tmp_path / "kero" / CLAIM_FILE).write_text("not json")
    _app_of("blog", tmp_path / "kero").kero.close()
