"""Several processes on one db_path: the dev server's reloader, two processes recording and
reading at once, and gunicorn --preload (the app made before the fork). No lock error, and
exactly one stored page view per request."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from kero_core import Kero as CoreKero
from tests.conftest import CHROME_UA, free_port
from tests.flask.servers import BIN, REPO, gunicorn_args, serving

HERE = Path(__file__).resolve().parent
HEADERS = {"User-Agent": CHROME_UA}


def stored_page_views(db_path: Path) -> int:
    with CoreKero(db_path=db_path) as reader:
        return reader.count()


def wait_for_count(db_path: Path, expected: int, timeout: float = 20.0) -> int:
    """Poll until ``expected`` page views are stored (a server flushes every 0.2 s) or time runs out."""
    deadline = time.monotonic() + timeout
    count = stored_page_views(db_path)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = stored_page_views(db_path)
    return count


def assert_clean(log: str) -> None:
    for problem in ("Traceback", "kero:", "lock", "Conflicting"):
        assert problem not in log, log


@pytest.mark.parametrize("command", ["app.run(debug=True)", "flask run --debug"])
def test_dev_server_reloader_two_processes_one_database(tmp_path: Path, command: str) -> None:
    db_path, port, requests_made = tmp_path / "kero", free_port(), 30
    if command == "flask run --debug":
        args = [str(BIN / "flask"), "--app", "hello_site", "run", "--debug", "--port", str(port)]
    else:  # this script also reads the database at start-up, in both processes
        args = [sys.executable, str(HERE / "reloader_site.py"), str(port)]
    with serving(args, tmp_path / "reloader.log", port=port, env={"FLASK_KERO_DB_PATH": str(db_path)}, cwd=HERE, group_stop=True) as server:
        pids = {requests.get(f"{server.url}/pid", headers=HEADERS, timeout=30).text for _ in range(requests_made)}
        assert pids and str(server.process.pid) not in pids  # served by the reloader's child
        assert wait_for_count(db_path, requests_made) == requests_made
        time.sleep(0.5)  # more than a flush interval: nothing counted twice
        assert stored_page_views(db_path) == requests_made
    assert "Restarting with" in server.log() and "Debugger is active" in server.log()
    assert_clean(server.log())


RECORDER = """
import sys
from tests.flask.hello_site import create_app, kero
app = create_app({"KERO_DB_PATH": sys.argv[1]})
client = app.test_client()
for i in range(int(sys.argv[2])):
    client.get(f"/hello/{sys.argv[3]}{i}", buffered=True)
    if i % 40 == 0:
        with app.app_context():
            kero.count()  # read while the other process writes
"""


def test_two_processes_recording_and_reading_at_once(tmp_path: Path) -> None:
    db_path, each = tmp_path / "kero", 200
    processes = [
        subprocess.Popen([sys.executable, "-c", RECORDER, str(db_path), str(each), name], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        assert_clean(err.decode())
    with CoreKero(db_path=db_path) as reader:
        assert reader.count() == 2 * each
        assert reader.count(filters={"route": "/hello/<name>"}) == 2 * each


def test_gunicorn_preload_app_made_before_the_fork(tmp_path: Path) -> None:
    db_path, requests_made = tmp_path / "kero", 80
    args, port = gunicorn_args("hello_site:create_app()", HERE)
    args.insert(1, "--preload")
    with requests.Session() as session:
        with serving(args, tmp_path / "gunicorn.log", port=port, env={"FLASK_KERO_DB_PATH": str(db_path)}) as server:
            for _ in range(requests_made):
                assert session.get(f"{server.url}/hello/preload", headers=HEADERS, timeout=30).status_code == 200
    assert stored_page_views(db_path) == requests_made
    assert_clean(server.log())
