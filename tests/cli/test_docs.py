"""Every example of docs/cli.md, run as written (servers on a free port instead of 8000) in a
folder holding the log files they name, in the order a reader would run them. The two that
seed a database of their own (``kero demo`` and ``kero seed``) run meanwhile, beside that
chain: nothing else reads what they write. The lake's examples run against this test's
PostgreSQL, with a local folder for the data path and the dashboard container's spool folder,
on 127.0.0.1."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import requests

from kero_core import Kero
from tests.cli.conftest import KERO, SAMPLES
from tests.cli.test_import_generated import combined_lines, page_views
from tests.conftest import free_port
from tests.flask.servers import serving

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def examples() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def lay_out_logs(folder: Path, geoip_db: str) -> None:
    """The files the examples name: today's log, yesterday's, an older compressed one, a folder of
    old compressed logs, a Caddy log, and a GeoLite2 database."""
    shutil.copyfile(SAMPLES / "combined.log", folder / "access.log")
    shutil.copyfile(SAMPLES / "nginx.log", folder / "access.log.1")
    (folder / "access.log.2.gz").write_bytes(gzip.compress((SAMPLES / "common.log").read_bytes()))
    (folder / "old").mkdir()
    lines = list(combined_lines(page_views(400)))
    for number, part in enumerate((lines[:200], lines[200:]), 1):
        (folder / "old" / f"access.log.{number + 10}.gz").write_bytes(gzip.compress("".join(part).encode()))
    shutil.copyfile(SAMPLES / "caddy.json", folder / "caddy-access.log")
    os.symlink(geoip_db, folder / "GeoLite2-City.mmdb")


def with_kero_on_path() -> dict[str, str]:
    return {**os.environ, "PATH": f"{KERO.parent}{os.pathsep}{os.environ['PATH']}"}


def shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=with_kero_on_path(), capture_output=True, text=True,
                          timeout=300, check=False)


def serve_example(line: str, cwd: Path) -> None:
    port = free_port()
    args = ["bash", "-c", line.replace("--port 8000", f"--port {port}")]
    with serving(args, cwd / f"server-{port}.log", port=port, cwd=cwd, env=with_kero_on_path(), group_stop=True) as server:
        log = server.log()
        found = re.search(r"password '([^']+)'", log)
        password = found.group(1) if found else re.search(r"KERO_PASSWORD='([^']+)'", line).group(1)
        page = requests.get(server.url + "/_kero/?period=12mo", auth=("admin", password), timeout=60)
        assert page.status_code == 200 and "Page views" in page.text, log


def on_this_machine(line: str, lake: str, tmp_path: Path) -> str:
    """An example naming the docs' lake and container folders, pointed at the test's."""
    return (line.replace("postgres:dbname=kero host=db.internal user=kero", lake)
            .replace("s3://analytics/kero/", str(tmp_path / "lake-data"))
            .replace("/tmp/kero", str(tmp_path / "container"))
            .replace("--host 0.0.0.0", "--host 127.0.0.1"))


def seeds_its_own_database(line: str) -> bool:
    """``kero demo`` (a temporary database) and ``kero seed --db ./synthetic``."""
    return " demo " in line or " seed " in line


def run_example(line: str, cwd: Path) -> None:
    if " demo " in line or " serve " in line:
        serve_example(line, cwd)
        return
    result = shell(line, cwd)
    assert result.returncode == 0, (line, result.stdout, result.stderr)
    if " import " in line:
        assert re.search(r"[1-9][\d,]* events imported", result.stdout), (line, result.stdout)
    if "--aggregates" in line:
        assert '"card":"figures"' in result.stdout
    if " annotate " in line and "--list" in line:
        assert "v1.4 deployed" in result.stdout and "2025-10-14 09:30  Newsletter sent" in result.stdout, result.stdout
    if " share create " in line:
        assert re.fullmatch(r"https://example\.com/_kero/share/[\w-]{43}/\n", result.stdout), result.stdout
    if " share list " in line:
        assert "path=/pricing" in result.stdout, result.stdout
    if " lake push " in line:
        assert re.search(r"Pushed [1-9][\d,]* events of [1-9]", result.stdout), result.stdout
    if " stats " in line and "--from" in line:
        assert "01 Oct 2025 – 31 Oct 2025" in result.stdout and re.search(r"Page views\s+[1-9]", result.stdout), result.stdout
    if " stats " in line and "--lake" in line:  # the pushed history, read from the lake
        assert re.search(r"Page views\s+[1-9]", result.stdout), result.stdout


def test_every_example_of_the_docs(tmp_path: Path, geoip_db: str, lake: str) -> None:
    lay_out_logs(tmp_path, geoip_db)
    lines = [on_this_machine(line, lake, tmp_path) for line in examples()]
    assert len(lines) == 21
    apart = [line for line in lines if seeds_its_own_database(line)]
    assert len(apart) == 2, apart
    with ThreadPoolExecutor(len(apart)) as pool:
        beside = [pool.submit(run_example, line, tmp_path) for line in apart]
        for line in lines:
            if line not in apart:
                run_example(line, tmp_path)
        for example in beside:
            example.result()
    assert (tmp_path / "events.csv").read_text().startswith("ts,name,method,path")
    assert (tmp_path / "october.parquet").stat().st_size > 0
    assert (tmp_path / "synthetic" / "kero.duckdb").exists()


def test_the_retention_advice(tmp_path: Path) -> None:
    with Kero(db_path=tmp_path / "kero", retention=400) as kero:
        assert kero.config.retention == timedelta(days=400)
