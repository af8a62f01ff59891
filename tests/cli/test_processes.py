"""The installed ``kero`` console script as real processes: exit codes, pipes, a terminal (pty),
an import stopped by Ctrl-C or SIGTERM and resumed, and the servers of ``serve`` and ``demo``
answering over HTTP on 127.0.0.1 (each stopped by the fixture, within bounds)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.conftest import CHROME_UA, KERO, SAMPLES, run, stored
from tests.cli.test_import_generated import combined_lines, page_views, tracked_by_default
from tests.conftest import default_signals, free_port
from tests.flask.servers import serving

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("seeded") / "kero"
    assert run("seed", "--db", db, "--events", 2_000, "--days", 5).returncode == 0
    return db


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """110,000 lines, three batches (so that a stop can fall between two of them), and how many
    page views they hold."""
    log = tmp_path_factory.mktemp("logs") / "access.log"
    hits = page_views(110_000)
    log.write_text("".join(combined_lines(hits)), encoding="utf-8")
    return log, len(tracked_by_default(hits))


def test_version_and_module_entry_point() -> None:
    assert run("--version").stdout == b"kero, version 0.1.0\n"
    module = subprocess.run([sys.executable, "-m", "kero_core", "--version"], capture_output=True, timeout=60, check=False)
    assert module.returncode == 0 and module.stdout == b"kero, version 0.1.0\n"


def test_exit_codes_and_one_line_errors(tmp_path: Path, seeded: Path) -> None:
    ok = run("import", "--db", tmp_path / "kero", "-", input=(SAMPLES / "nginx.log").read_bytes())
    assert ok.returncode == 0 and b"4 events imported" in ok.stdout
    missing = run("import", "--db", tmp_path / "kero", tmp_path / "nope.log")
    assert missing.returncode == 2 and missing.stderr.count(b"\n") == 1 and b"does not exist" in missing.stderr
    unknown = run("frobnicate")
    assert unknown.returncode == 2 and unknown.stderr == b"Error: No such command 'frobnicate'. (see 'kero --help')\n"
    exposed = run("serve", "--db", seeded, "--host", "0.0.0.0", "--port", free_port())
    assert exposed.returncode == 2
    assert exposed.stderr == (b"Error: refusing to serve the dashboard on 0.0.0.0 without credentials: pass --user "
                              b"and --password (or set KERO_PASSWORD) (see 'kero serve --help')\n")
    for result in (missing, unknown, exposed):
        assert b"Traceback" not in result.stderr


def _on_a_terminal(args: list[str], *, stream: str) -> tuple[int, bytes]:
    """Run ``kero ARGS`` with its stdout or stderr on a pseudo-terminal; (exit code, what it showed)."""
    leader, follower = pty.openpty()
    target = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, stream: follower}
    process = subprocess.Popen([str(KERO), *args], stdout=target["stdout"], stderr=target["stderr"])
    os.close(follower)
    shown, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline and select.select([leader], [], [], 1.0)[0] or process.poll() is None:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(120), shown


@pytest.mark.slow
def test_a_terminal_shows_progress_and_gets_no_parquet(tmp_path: Path, big_log: tuple[Path, int], seeded: Path) -> None:
    code, shown = _on_a_terminal(["import", "--db", str(tmp_path / "kero"), str(big_log[0])], stream="stderr")
    assert code == 0
    assert b"Importing" in shown and b"100%" in shown and re.search(rb"110,000 lines, [\d,]+ lines/s", shown)
    code, shown = _on_a_terminal(["export", "--db", str(seeded), "--format", "parquet"], stream="stdout")
    assert code == 2


@pytest.mark.parametrize("stop", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_import_resumes_without_counting_twice(tmp_path: Path, big_log: tuple[Path, int],
                                                         stop: signal.Signals) -> None:
    log, page_views_in_log = big_log
    db = tmp_path / "kero"
    temp = tmp_path / "temp"  # the import's temporary daily salts go here, and must not stay
    temp.mkdir()
    process = subprocess.Popen([str(KERO), "import", "--db", str(db), str(log)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(temp)},
                               preexec_fn=default_signals)
    deadline = time.monotonic() + 120
    while not (db / "imports.json").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the first batch is stored and remembered: stop in the middle of the next
    assert any(temp.glob("kero-import-salts-*")), "the import was not running"
    process.send_signal(stop)
    out, err = process.communicate(timeout=120)
    assert process.returncode == (1 if stop == signal.SIGINT else 128 + signal.SIGTERM), (out, err)
    assert list(temp.iterdir()) == []
    resumed = run("import", "--db", db, log)
    assert resumed.returncode == 0 and b" resumed " in resumed.stdout
    read = int(re.search(rb"Read ([\d,]+) lines", resumed.stdout).group(1).replace(b",", b""))
    assert 0 < read < 110_000
    assert len(stored(db)) == page_views_in_log  # every request of the log, POSTs (http_other) included


# -- servers -----------------------------------------------------------------------------------------

def test_serve_answers_the_dashboard_with_auth_and_records_nothing(tmp_path: Path, seeded: Path) -> None:
    port = free_port()
    before = len(stored(seeded))
    args = [str(KERO), "serve", "--db", str(seeded), "--port", str(port), "--user", "admin", "--workers", "2"]
    with serving(args, tmp_path / "serve.log", port=port, env={"KERO_PASSWORD": PASSWORD}, group_stop=True) as server:
        front = requests.get(server.url + "/", allow_redirects=False, timeout=10)
        assert (front.status_code, front.headers["Location"]) == (302, "/_kero/")
        anonymous = requests.get(server.url + "/_kero/", timeout=10)
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
        assert requests.get(server.url + "/_kero/", auth=("admin", "wrong"), timeout=10).status_code == 401
        page = requests.get(server.url + "/_kero/?period=30d", auth=("admin", PASSWORD), timeout=30)
        assert page.status_code == 200 and "<title>App stats" in page.text
        api = requests.get(server.url + "/_kero/api/stats?period=30d", auth=("admin", PASSWORD), timeout=30).json()
        views = next(f for f in api["figures"] if f["id"] == "views")["value"]
        assert views == len([e for e in stored(seeded, "http_req") if not e.is_bot]) > 0
    log = server.log()
    assert f"Dashboard: http://127.0.0.1:{port}/_kero/  (user 'admin')" in log and PASSWORD not in log
    assert "127.0.0.1 -" not in log  # no access log: it would hold visitors' addresses
    assert "werkzeug" not in log  # gunicorn is installed, so it serves
    assert len(stored(seeded)) == before


def test_serve_falls_back_to_werkzeug_and_generates_a_password(tmp_path: Path, seeded: Path) -> None:
    port = free_port()
    without_gunicorn = "import sys; sys.modules['gunicorn'] = None; from kero_core.cli import main; main(sys.argv[1:])"
    args = [sys.executable, "-c", without_gunicorn, "serve", "--db", str(seeded), "--port", str(port)]
    with serving(args, tmp_path / "serve.log", port=port) as server:
        password = re.search(r"user 'admin', password '([^']+)'", server.log()).group(1)
        assert requests.get(server.url + "/_kero/", auth=("admin", password), timeout=30).status_code == 200
    log = server.log()
    assert "Warning: gunicorn is not installed, so this uses werkzeug's development server" in log
    assert "GET /_kero/" not in log  # no request log either


def test_demo_serves_the_site_and_the_dashboard_then_cleans_up(tmp_path: Path) -> None:
    port, temp = free_port(), tmp_path / "tmp"
    temp.mkdir()
    args = [str(KERO), "demo", "--port", str(port), "--events", "3000", "--days", "7"]
    with serving(args, tmp_path / "demo.log", port=port, env={"TMPDIR": str(temp)}) as server:
        log = server.log()
        password = re.search(r"Dashboard: http://127.0.0.1:\d+/_kero/  \(user 'admin', password '([^']+)'\)", log).group(1)
        assert f"Site:      http://127.0.0.1:{port}/" in log and "Seeded 3,000 events over 7 days" in log
        assert [p.name.startswith("kero-demo-") for p in temp.iterdir()] == [True]
        browser = {"User-Agent": CHROME_UA}
        auth = ("admin", password)

        def views(query: str) -> int:
            stats = requests.get(f"{server.url}/_kero/api/stats?period=today&{query}", auth=auth, timeout=30).json()
            return next(f for f in stats["figures"] if f["id"] == "views")["value"]

        home = requests.get(server.url + "/", headers=browser, timeout=10)
        assert home.status_code == 200 and 'src="/visit.gif"' in home.text
        assert requests.get(server.url + "/no-such-page-42", headers=browser, timeout=10).status_code == 404
        signups = views("name=signup")
        signup = requests.post(server.url + "/signup", data={"plan": "pro"}, headers=browser, timeout=10)
        assert "Signed up for the pro plan." in signup.text
        assert views("path=/no-such-page-42") == 1  # recorded by the demo's Kero, read by its dashboard
        assert views("name=signup") == signups + 1
        assert requests.get(server.url + "/_kero/", auth=auth, timeout=30).status_code == 200
    assert server.process.returncode == 0
    assert list(temp.iterdir()) == []  # the temporary database is gone


@pytest.mark.slow
def test_demo_keeps_a_given_database_and_does_not_seed_it_twice(tmp_path: Path) -> None:
    db = tmp_path / "demo"
    for expected in ("Seeded 500 events", "already holds 500 events: not seeding"):
        port = free_port()
        args = [str(KERO), "demo", "--port", str(port), "--events", "500", "--db", str(db)]
        with serving(args, tmp_path / "demo.log", port=port) as server:
            assert expected in server.log()
    assert (db / "kero.duckdb").exists()


def test_demo_refuses_a_taken_port_before_seeding(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("demo", "--port", taken.getsockname()[1], "--db", tmp_path / "demo", timeout=60)
    assert result.returncode == 1 and b"pass another --port" in result.stderr
    assert not (tmp_path / "demo").exists()


def test_help_does_not_load_duckdb_or_arrow() -> None:
    """Commands are imported when they run: `kero --help` answers at once."""
    script = ("import sys\nfrom kero_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('duckdb', 'pyarrow') if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.splitlines()[-1] == "[]"
    assert re.search(r"^  import +Import web server access logs", shown.stdout, re.M), shown.stdout
