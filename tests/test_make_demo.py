"""The README's `make demo` (and its Django and FastAPI siblings) on a chosen port, and on a
busy one: one clear sentence naming the port and how to choose another, before any seeding
and before credentials that would not work are printed (issue 17)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAMP = ".venv/.installed-stamp"  # the virtualenv make would otherwise (re)build first


def make(*args: str) -> subprocess.CompletedProcess[str]:
    # As a user's shell would: not with the Django settings earlier tests of this run put in the environment.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(["make", "--no-print-directory", "-s", "-o", STAMP, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False, env=env)


@pytest.mark.parametrize("target", ["demo", "demo-django", "demo-fastapi"])
def test_make_demo_passes_the_port(target: str) -> None:
    planned = make("-n", target, "PORT=8123")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.strip().endswith("--port 8123"), planned.stdout


@pytest.mark.parametrize("target", ["demo", "demo-django", "demo-fastapi"])
def test_make_demo_on_a_busy_port_says_so_before_any_credentials(target: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = make(target, f"PORT={port}")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    expected = (f"cannot listen on 127.0.0.1:{port} (Address already in use); "
                f"choose another port: make {target} PORT={port + 1} (or --port {port + 1})")
    assert expected in output
    assert "password" not in output and "Dashboard" not in output and "synthetic" not in output, output
    assert "Traceback" not in output
