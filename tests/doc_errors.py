"""Error messages quoted by the docs, as examples a test runs like the code examples: each is
written "`INPUT` gives the error `MESSAGE`", and the framework's docs test feeds INPUT to
the real code and compares the message it gets, whole (issue 17: a quoted message had drifted)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
EXAMPLE = re.compile(r"`([^`\n]+)` gives the error\s+`([^`\n]+)`")
CODE = re.compile(r"`([^`\n]+)`")
# What reads like an error message: a sentence saying what a value must be, or what it got.
MESSAGE_LIKE = re.compile(r"\b(?:must|got|cannot)\b")


def error_examples(doc: Path) -> list[tuple[str, str]]:
    """The (input, message) examples of ``doc``."""
    return EXAMPLE.findall(doc.read_text(encoding="utf-8"))


def quoted_messages(doc: Path) -> list[str]:
    """The backquoted texts of ``doc`` that read like error messages."""
    return [code for code in CODE.findall(doc.read_text(encoding="utf-8")) if MESSAGE_LIKE.search(code)]
