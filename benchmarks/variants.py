"""Run a piece of a benchmark with one version's kero packages: ``python -c CODE`` in a process
whose ``PYTHONPATH`` starts with that version's folder (e.g. a ``git archive`` of main for
``--before``), from a neutral working directory (``python -c`` puts the working directory first on
``sys.path``), failing unless it imported the packages it was given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_with(code: str, args: list[str], kero_from: str | None = None, timeout: float = 1800) -> Any:
    """The result ``code`` computed, run with the kero packages of ``kero_from`` (None: this
    checkout's): its last line of output must be the JSON ``[result, kero_core.__file__]``."""
    package = kero_from or str(ROOT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"the run with the kero of {package} failed:\n{done.stderr}")
    result, ran = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(ran).resolve() != Path(package).resolve() / "kero_core" / "__init__.py":
        raise SystemExit(f"the run imported {ran}, not the kero of {package}")
    return result
