"""The script that makes the README's screenshot shoots a clean demo: `kero demo` on a fresh
folder, whose Custom events card holds the synthetic site's events only (issue 17: the
screenshot came from a test fixture and showed its XSS payloads)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "readme_screenshot.py"
pytestmark = pytest.mark.browser


def test_the_screenshot_is_of_a_clean_demo(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("readme_screenshot", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path / "dashboard.png"
    shown = script.shoot(output, events=20_000)
    assert sorted(shown) == ["purchase", "signup"]  # the synthetic site's events, nothing else
    header = output.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24])[0] == 1280
