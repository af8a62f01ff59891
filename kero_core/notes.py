"""Annotations: short notes at a moment ("v1.4 deployed") that the dashboard draws on its chart.

They are written by :meth:`kero_core.Kero.annotate`, by ``kero annotate``, and once per release
when an app starts with a release id (the ``release`` option). Rows are only ever appended (the
lake has no primary keys and two hosts updating one row conflict): a release noted twice by two
hosts at the same moment is read once, at its earliest time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import duckdb

MAX_TEXT = 200  # characters: a note, not a changelog
SHORT_COMMIT = 12  # characters of a commit hash shown in a release's note


@dataclass(frozen=True)
class Annotation:
    at: datetime  # naive UTC
    text: str
    release: str | None = None  # the release id, for the ones noted at start-up


def create(con: "duckdb.DuckDBPyConnection") -> None:
    """Schema 6: the annotations table."""
    con.execute("CREATE TABLE IF NOT EXISTS annotations (ts TIMESTAMP NOT NULL, text VARCHAR NOT NULL, "
                "release VARCHAR, created_at TIMESTAMP NOT NULL)")


def checked_text(text: object) -> str:
    """The text of an annotation, stripped; one clear ValueError for an empty or long one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"an annotation needs a text, e.g. 'v1.4 deployed', got {text!r}")
    text = " ".join(text.split())  # one line: it is a marker's label
    if len(text) > MAX_TEXT:
        raise ValueError(f"an annotation's text is at most {MAX_TEXT} characters, got {len(text)}")
    return text


def release_text(release: str) -> str:
    """"Release 1a2b3c4d5e6f" for a commit hash, "Release v1.4" for a name."""
    shown = release[:SHORT_COMMIT] if len(release) == 40 and all(c in "0123456789abcdef" for c in release.lower()) else release
    return checked_text(f"Release {shown}"[:MAX_TEXT])


def add(con: "duckdb.DuckDBPyConnection", append: Callable[..., None], annotation: Annotation, now: datetime) -> None:
    """Store ``annotation``; ``append`` is the store's way to run an appending transaction."""

    def transaction() -> None:
        con.execute("BEGIN")
        con.execute("INSERT INTO annotations VALUES (?, ?, ?, ?)",
                    [annotation.at, annotation.text, annotation.release, now])
        con.execute("COMMIT")

    append(con, transaction)


def note_release(con: "duckdb.DuckDBPyConnection", append: Callable[..., None], release: str, at: datetime,
                 now: datetime) -> bool:
    """Annotate ``release`` at ``at`` unless it is noted already (by another worker or host);
    returns whether this call noted it."""
    if con.execute("SELECT 1 FROM annotations WHERE release = ? LIMIT 1", [release]).fetchone():
        return False
    add(con, append, Annotation(at, release_text(release), release), now)
    return True


def between(con: "duckdb.DuckDBPyConnection", start: datetime | None, end: datetime | None) -> list[Annotation]:
    """The annotations from ``start`` (included) to ``end`` (excluded), oldest first; a release
    noted more than once counts at its first time."""
    rows = con.execute("""
        SELECT ts, text, release FROM (
            SELECT * FROM annotations
            QUALIFY release IS NULL OR row_number() OVER (PARTITION BY release ORDER BY ts, created_at) = 1)
        WHERE (?::TIMESTAMP IS NULL OR ts >= ?) AND (?::TIMESTAMP IS NULL OR ts < ?)
        ORDER BY ts, created_at""", [start, start, end, end]).fetchall()
    return [Annotation(at, text, release) for at, text, release in rows]


def latest_release(con: "duckdb.DuckDBPyConnection", until: datetime) -> Annotation | None:
    """The release noted last before ``until`` (at its first time, as :func:`between` shows it)."""
    row = con.execute("""
        SELECT ts, text, release FROM (
            SELECT * FROM annotations WHERE release IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY release ORDER BY ts, created_at) = 1)
        WHERE ts < ? ORDER BY ts DESC, created_at DESC LIMIT 1""", [until]).fetchone()
    return Annotation(*row) if row else None
