"""The request-path, ingest and memory benchmarks keep working: each runs in its ``--smoke`` size
(real gunicorn servers on 127.0.0.1 driven by wrk, real DuckDB files). Their figures are not
checked, this is no timed test; what is checked is what each script verifies itself (every
tracked request stored, the buffer bounded) and that it printed its figures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, timeout: float, *options: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--smoke", *options],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_request_overhead_smoke() -> None:
    out = run("request_overhead.py", 60)
    assert out.count("added on the request thread:") == 2, out  # WSGI and Flask
    assert out.count("events stored: 400 (expected 400)") == 2, out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make system-deps)")
def test_asgi_overhead_smoke() -> None:
    out = run("asgi_overhead.py", 180)
    assert out.count("events stored: 400 (expected 400") == 2, out  # bare ASGI and FastAPI
    assert "kero stored" in out and "/ bare:" in out, out


def test_asgi_breakdown_smoke() -> None:
    out = run("asgi_breakdown.py", 120)
    assert "events stored: 400 and 400 (expected 400 each" in out, out
    assert all(f"  {label} " in out for label in ("structure", "no record", "no capture", "kero")), out


def test_ingest_smoke() -> None:
    out = run("ingest.py", 60)
    assert "median ingest rate:" in out and "GeoIP: on" in out, out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make system-deps)")
def test_http_overhead_smoke() -> None:
    out = run("http_overhead.py", 120)
    for stored in ("flask/kero", "flask/peer", "django/kero", "django/peer"):
        assert f"{stored} (gunicorn -w 1): stored" in out, out
    assert out.count("Kero / bare:") == 2, out
    assert out.count("Kero: latency added to bare p50") == 2 and "p99" in out, out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make system-deps)")
def test_http_overhead_pinned_smoke() -> None:
    out = run("http_overhead.py", 120, "--pin", "--no-peer", "--frameworks", "flask")
    assert "wrk on CPU 0, servers on CPU 1" in out, out
    assert "flask/kero (gunicorn -w 1): stored" in out and "Kero / bare:" in out, out


def test_http_overhead_pin_needs_two_cpus() -> None:
    """--pin where the process may not use CPUs 0 and 1: a clear error, before any server starts."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "http_overhead.py"), "--pin"], capture_output=True,
                          text=True, timeout=60, check=False, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--pin needs CPUs 0 and 1; this process may use [0]" in done.stderr, done.stderr
    assert "gunicorn" not in done.stdout


def test_gil_wait_smoke() -> None:
    out = run("gil_wait.py", 60)
    assert "blocked p99 " in out and "writer thread CPU:" in out, out
    assert "every tracked request stored" in out, out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make system-deps)")
def test_memory_smoke() -> None:
    out = run("memory.py", 90)
    assert "worker RSS:" in out, out
    assert "20,000 held in memory, 20,000 dropped and counted" in out, out


def test_seed_smoke() -> None:
    out = run("seed.py", 120)
    assert "events per CPU second" in out and "GeoIP on" in out, out


def test_storage_smoke() -> None:
    """The folder that keeps 3 days of events holds fewer of them, and shows the same views."""
    out = run("storage.py", 180)
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("none", "3 days"))}
    assert set(rows) == {"none", "3"}, out
    kept_all, kept_raw = (int(rows[k][-4].replace(",", "")) for k in ("none", "3"))
    assert kept_all == 2000 and 0 < kept_raw < kept_all, out
    assert rows["3"][-2] == "yes", out


@pytest.mark.slow
def test_today_smoke() -> None:
    """Both variants render Today over the same events (this checkout standing in for the one
    before), each in a process that imported the kero it was given."""
    out = run("today.py", 180)
    # The smoke folder is seeded up to now, so its seed made today live already.
    assert "today was live already" in out and "live " in out and "plain " in out, out
    assert "smoke kept its 3,000 events" in out, out  # the runs worked on copies
    assert "into the live day (Kero.ingest, median of 10 per round): this checkout" in out, out  # --before-live
    assert "this checkout (live rows)    Today" in out and "before (events)" in out and "before / this checkout:" in out, out


def test_live_ingest_smoke() -> None:
    """Both variants (this checkout standing in for the one before) measure an ingest into a
    live day of a heavy visitor and of new ones, each in a process that imported its kero."""
    out = run("live_ingest.py", 180)
    assert out.count("one visitor") == 2 and "this checkout" in out and "before" in out, out
    assert "response times not measured" in out, out  # the smoke run measures Kero's default


def test_first_view_smoke() -> None:
    """A new process's first render and its second, over a copy of a seeded folder."""
    out = run("first_view.py", 180)
    assert "first view  median" in out and "second view median" in out, out


def test_pandas_probe_smoke() -> None:
    """Each measure with the probe and without; without it DuckDB searched for pandas, with it not."""
    out = run("pandas_probe.py", 120)
    rows = [line.split() for line in out.splitlines() if line.startswith(("a statement", "ingest of", "Today render"))]
    assert len(rows) == 3, out
    for row in rows:
        with_probe, without = int(row[-3]), int(row[-1])  # "... 0 / 4004"
        assert with_probe == 0 and without > 0, out
