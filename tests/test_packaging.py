"""The distribution's name and metadata, as a new user meets them (issue 17)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NAME = "kero-analytics"  # "kero" on the package index is someone else's project


@pytest.fixture(scope="module")
def project() -> dict:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_distribution_has_its_own_name_and_an_spdx_licence(project: dict) -> None:
    assert project["name"] == NAME
    assert project["license"] == "MIT"  # a table warns "deprecated" at every install
    assert project["optional-dependencies"]["all"] == [f"{NAME}[flask,django,fastapi,lake,dev,bench]"]


def test_every_documented_install_line_names_the_distribution() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "example_sites").rglob("*.py"))]
    lines = [(f.name, m.group(1)) for f in files for m in re.finditer(r'pip install "([^"]+)"', f.read_text("utf-8"))]
    assert lines, "the README has install lines"
    assert [(name, spec) for name, spec in lines if not spec.startswith(NAME)] == []
