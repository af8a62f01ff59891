"""Import web server access logs into Kero: months of history on day one.

Each line becomes the :class:`~kero_core.capture.Hit` a live request would have made (the log's
time, method, path, query, status, client address, User-Agent, Referer), goes through the same
path rules as live tracking, and is enriched and stored by the writer's batch path. DNT cannot
apply: access logs do not record it.

Re-runs are idempotent. ``<db_path>/imports.json`` remembers every file by a fingerprint of its
first 4 KB (decompressed, so ``access.log`` is still recognised once rotated to ``access.log.2.gz``)
and the byte offset after its last imported line; a re-run reads only what was appended since.
A batch's spool file and its new offset are written together with Ctrl-C and SIGTERM held back,
so an interrupted import resumes where it stopped without counting anything twice.

Visitor ids use a salt per event day made for this import in a temporary folder and deleted
when it ends: ids of imported days cannot be recomputed afterwards, as with live salts."""

from __future__ import annotations

import datetime
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Sequence

from kero_core.batch import EventBuilder
from kero_core.capture import Hit
from kero_core.enrich import SaltStore
from kero_core.importer.formats import (
    BOT, FORMATS, IGNORED_PATH, MALFORMED, UNUSABLE, detect_format, parser, printable,
)
from kero_core.importer.sources import (
    FINGERPRINT_BYTES, LOCK_FILE, STATE_FILE, STDIN, ImportState, LogImportError, Source, exclusive, signals_held,
)
from kero_core.kero import Kero

__all__ = [
    "FORMATS", "MALFORMED", "STATE_FILE", "STDIN", "FileReport", "ImportReport", "ImportState", "Importer",
    "LogImportError", "detect_format", "parser",
]
MALFORMED_SHOWN = 5


class _ImportSalts(SaltStore):
    """Salts made for one import's days. None is destroyed while it runs, because files may go
    back in time (``access.log`` given before ``access.log.1``) and a day must keep one salt; the
    whole folder is deleted when the import ends."""

    def destroy_before(self, day: datetime.date) -> int:
        return 0


@dataclass
class FileReport:
    """What happened to one input. ``status``: new, resumed (imported before), empty, failed."""

    name: str
    log_format: str = ""
    status: str = "new"
    lines: int = 0  # lines read in this run
    imported: int = 0  # events stored in this run
    waiting_line: bool = False  # its last line has no newline yet: left for the next run
    error: str = ""


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line number, line)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def imported(self) -> int:
        return sum(f.imported for f in self.files)


class Importer:
    """Imports access logs into ``kero``'s database (see the module docstring).

    ``progress(disk_bytes, lines)`` is called every few thousand lines with the bytes of the
    files read since the previous call (compressed bytes for .gz) and the lines read so far.

    >>> Importer(kero, site_host="example.com").run(["/var/log/nginx/access.log"])  # doctest: +SKIP
    """

    PROGRESS_EVERY = 10_000

    def __init__(self, kero: Kero, *, log_format: str = "auto", site_host: str = "", stdin: IO[bytes] | None = None,
                 batch_size: int = 50_000, progress: Callable[[int, int], None] | None = None) -> None:
        if log_format != "auto":
            parser(log_format)  # unknown formats fail here, not after the first file
        self.kero = kero
        self.log_format = log_format
        self.site_host = site_host
        self.stdin = stdin
        self.batch_size = batch_size
        self.progress = progress
        self.report = ImportReport()

    def run(self, names: Sequence[str]) -> ImportReport:
        """Import each file ("-" is stdin), then ingest everything into the database."""
        started = time.perf_counter()
        folder = self.kero.config.db_path
        with exclusive(folder / LOCK_FILE), tempfile.TemporaryDirectory(prefix="kero-import-salts-") as salts:
            state = ImportState(folder)
            builder = EventBuilder(self.kero.config, self.kero.ignored_agents, _ImportSalts(salts), self.kero.clock)
            try:
                for name in names:
                    self.report.files.append(self._import(name, builder, state))
            finally:
                builder.close()
        self.kero.store.complete_rollups()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _import(self, name: str, builder: EventBuilder, state: ImportState) -> FileReport:
        result = FileReport(name)
        try:
            source = Source(name, self.stdin)
        except (OSError, EOFError, zlib.error) as exc:
            result.status, result.error = "failed", f"cannot read it ({getattr(exc, 'strerror', None) or exc})"
            return result
        try:
            self._read(source, result, builder, state)
        except _ReadError as exc:
            result.status, result.error = "failed", f"stopped reading after line {exc.line} ({exc.cause})"
        finally:
            source.close()
        return result

    def _read(self, source: Source, result: FileReport, builder: EventBuilder, state: ImportState) -> None:
        head = source.head[:FINGERPRINT_BYTES]
        entry = state.find(head)
        offset = lines = 0
        # A plain file now shorter than what was imported was truncated and written anew.
        if entry is not None and not (source.appendable and (source.size or 0) < entry["offset"]):
            offset, lines, result.status = entry["offset"], entry["lines"], "resumed"
        if not source.head.strip():  # e.g. a log rotated a moment ago: nothing to read yet
            result.status = "empty"
            return
        log_format = self.log_format if self.log_format != "auto" else detect_format(source.sample())
        if log_format is None:
            result.status, result.error = "failed", "unrecognised log format (pass --format)"
            return
        result.log_format = log_format
        parse, track = parser(log_format, self.site_host), self.kero.rules.should_track
        skipped, malformed = self.report.skipped, self.report.malformed
        batch: list[Hit] = []
        shown = source.disk_position(0)
        # Ctrl-C stores nothing more: the batches committed so far agree with their offsets, and
        # the lines read since are read again by the next run.
        try:
            for line in _guarded(source.lines(offset), lines):
                if source.appendable and not line.endswith(b"\n"):
                    result.waiting_line = True  # being written right now, or cut: the next run gets it whole
                    break
                offset += len(line)
                lines += 1
                result.lines += 1
                parsed = parse(line)
                if isinstance(parsed, str):
                    skipped[parsed] += 1
                    if parsed == MALFORMED and len(malformed) < MALFORMED_SHOWN:
                        malformed.append((source.name, lines, printable(line)))
                elif track(parsed.path):
                    batch.append(parsed)
                else:
                    skipped[IGNORED_PATH] += 1
                if result.lines % self.batch_size == 0:
                    entry = self._commit(builder, state, entry, source, batch, offset, lines, result)
                    batch = []
                if result.lines % self.PROGRESS_EVERY == 0:
                    shown = self._show(source, result, offset, shown)
        except _ReadError:  # raised between two lines: what was read before it is kept
            self._commit(builder, state, entry, source, batch, offset, lines, result)
            raise
        self._commit(builder, state, entry, source, batch, offset, lines, result)
        self._show(source, result, offset, shown)

    def _commit(self, builder: EventBuilder, state: ImportState, entry: dict[str, Any] | None, source: Source,
                batch: list[Hit], offset: int, lines: int, result: FileReport) -> dict[str, Any] | None:
        """Store a batch and remember how far the file is imported, both or neither."""
        rejected = builder.rejected
        table = builder.build(batch) if batch else None
        stored = table.num_rows if table is not None else 0
        rejected = builder.rejected - rejected
        for reason, count in ((UNUSABLE, rejected), (BOT, len(batch) - stored - rejected)):
            if count:
                self.report.skipped[reason] += count
        if not stored and offset == (entry["offset"] if entry is not None else 0):
            return entry
        with signals_held():
            if table is not None and stored:
                self.kero.store.spool(table)
            entry = state.record(entry, source, source.head[:FINGERPRINT_BYTES], offset, lines)
            state.save()
        result.imported += stored
        return entry

    def _show(self, source: Source, result: FileReport, offset: int, shown: int) -> int:
        position = source.disk_position(offset)
        if self.progress is not None:  # the report lists a file once it is done
            self.progress(max(0, position - shown), self.report.lines + result.lines)
        return position


class _ReadError(Exception):
    def __init__(self, line: int, cause: BaseException) -> None:
        super().__init__(line, cause)
        self.line, self.cause = line, cause


def _guarded(lines: Iterator[bytes], done: int) -> Iterator[bytes]:
    """The lines, with a read failure (a corrupt or cut .gz, a disk error) as a _ReadError
    saying how far the file was read: what was read before it stays imported."""
    try:
        for line in lines:
            done += 1
            yield line
    except (OSError, EOFError, zlib.error) as exc:
        raise _ReadError(done, exc) from None
