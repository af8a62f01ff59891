"""Make the README's screenshot, docs/img/dashboard.png, from a clean demo: ``kero demo`` on a
fresh folder (synthetic traffic only, none of the tests' hostile strings), its dashboard's past
7 days in Debian's Chromium, 1280 pixels wide.

    .venv/bin/python scripts/readme_screenshot.py [--output docs/img/dashboard.png] [--events 100000]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
KERO = Path(sys.executable).parent / "kero"
CHROMIUM = "/usr/bin/chromium"
DASHBOARD_LINE = re.compile(r"Dashboard: (http://\S+)  \(user '([^']+)', password '([^']+)'\)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dashboard(log: Path, demo: subprocess.Popen[bytes], timeout: float) -> tuple[str, str, str]:
    """The dashboard's URL and credentials once the demo answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and demo.poll() is None:
        found = DASHBOARD_LINE.search(log.read_text())
        if found:
            url, user, password = found.groups()
            try:
                if requests.get(url, auth=(user, password), timeout=10).status_code == 200:
                    return url, user, password
            except requests.ConnectionError:
                pass
        time.sleep(0.5)
    raise RuntimeError(f"kero demo did not serve its dashboard: {log.read_text()}")


def shoot(output: Path, events: int = 100_000, timeout: float = 300) -> list[str]:
    """Screenshot a fresh demo's dashboard into ``output``; return the custom events it showed."""
    with tempfile.TemporaryDirectory(prefix="kero-screenshot-") as folder:
        log = Path(folder) / "demo.log"
        with log.open("wb") as out:
            demo = subprocess.Popen([str(KERO), "demo", "--port", str(_free_port()), "--db", str(Path(folder) / "kero"),
                                     "--events", str(events)], stdout=out, stderr=subprocess.STDOUT)
        try:
            url, user, password = _dashboard(log, demo, timeout)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
                context = browser.new_context(http_credentials={"username": user, "password": password},
                                              viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(url + "?period=7d")
                shown = page.locator("#panel-custom_events .text").all_inner_texts()
                page.screenshot(path=str(output), full_page=True)
                browser.close()
        finally:
            demo.terminate()
            demo.wait(30)
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    parser.add_argument("--events", type=int, default=100_000, help="synthetic events of the demo (default: 100000)")
    args = parser.parse_args()
    shown = shoot(args.output, args.events)
    print(f"{args.output}: custom events {', '.join(shown)}")


if __name__ == "__main__":
    main()
