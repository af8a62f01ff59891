"""kero_core.shutdown in a real process: a script records events (flush_interval 60 s, so only
the write at the signal can store them), then gets a signal. Kero writes first and the process
then ends exactly as it would have without Kero: its own handler runs, the default action
still kills it, an ignored signal stays ignored."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kero_core import Kero
from tests.conftest import default_signals, environ

SCRIPT = """
import os, signal, sys, time
{before}
from kero_core import Kero
kero = Kero(db_path=sys.argv[1], flush_interval=60)
for i in range(5):
    kero.record_request({environ!r} | {{"PATH_INFO": f"/page/{{i}}"}}, status=200)
{after}
os.kill(os.getpid(), signal.{signal})
time.sleep(2)   # a handler that did not end the process: it ends here, normally
print("survived")
"""


def run(tmp_path: Path, signum: str, before: str = "", after: str = "") -> subprocess.CompletedProcess[str]:
    code = SCRIPT.format(before=textwrap.dedent(before), after=textwrap.dedent(after), environ=environ(), signal=signum)
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "kero")], capture_output=True, text=True,
                          timeout=120, preexec_fn=default_signals)


def stored(tmp_path: Path) -> int:
    with Kero(db_path=tmp_path / "kero") as reader:
        return reader.count()


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_default_action_still_ends_the_process_after_kero_wrote(tmp_path: Path, signum: str) -> None:
    result = run(tmp_path, signum)
    # Killed by the signal (SIGINT: Python ends an uncaught KeyboardInterrupt that way), as without Kero.
    assert result.returncode == -getattr(signal, signum), result.stderr
    assert "survived" not in result.stdout
    assert stored(tmp_path) == 5


def test_the_apps_own_handler_runs_once_after_kero_wrote(tmp_path: Path) -> None:
    after = """
    def mine(signum, frame):
        print("mine", signum, flush=True)
    signal.signal(signal.SIGTERM, mine)
    kero.record_request({"PATH_INFO": "/late", "REQUEST_METHOD": "GET"}, status=200)
    """
    result = run(tmp_path, "SIGTERM", after=after)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [f"mine {int(signal.SIGTERM)}", "survived"]
    assert stored(tmp_path) == 6


def test_an_ignored_signal_stays_ignored(tmp_path: Path) -> None:
    result = run(tmp_path, "SIGTERM", before="signal.signal(signal.SIGTERM, signal.SIG_IGN)", after="kero.close()")
    assert (result.returncode, result.stdout.strip()) == (0, "survived")
    assert stored(tmp_path) == 5
