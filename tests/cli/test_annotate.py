"""``kero annotate``: add a note, list them, and every mistake's one-line answer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from kero_core.cli.common import open_kero
from tests.cli.conftest import invoke


def test_annotate_adds_notes_that_the_api_and_list_show(db: Path) -> None:
    first = invoke("annotate", "--db", db, "--at", "2026-11-02T09:30", "Newsletter sent")
    assert first.exit_code == 0 and first.stdout == "Annotated 2026-11-02 09:30 UTC: Newsletter sent\n"
    assert invoke("annotate", "--db", db, "v1.4 deployed").stdout.startswith("Annotated ")
    with open_kero(db) as kero:
        notes = kero.annotations()
    assert [(n.at, n.text) for n in notes][0] == (datetime(2026, 11, 2, 9, 30), "Newsletter sent")
    assert [n.text for n in notes] == ["Newsletter sent", "v1.4 deployed"]
    listing = invoke("annotate", "--db", db, "--list").stdout.splitlines()
    assert listing[1] == "  2026-11-02 09:30  Newsletter sent" and listing[2].endswith("  v1.4 deployed")


def test_a_command_never_notes_a_release(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERO_RELEASE", "v9")
    assert invoke("annotate", "--db", db, "--list").stdout == "No annotations yet.\n"


@pytest.mark.parametrize("args, message", [
    ([], "give the annotation's TEXT"),
    ([""], "Invalid value for TEXT: an annotation needs a text"),
    (["x" * 201], "at most 200 characters"),
    (["--list", "text"], "--list takes no TEXT and no --at"),
    (["--at", "yesterday", "text"], "'yesterday' is not a date"),
])
def test_annotate_mistakes_are_one_line(db: Path, args: list[str], message: str) -> None:
    result = invoke("annotate", "--db", db, *args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    with open_kero(db) as kero:
        assert kero.annotations() == []
