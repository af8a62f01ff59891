"""Reading logs (plain, gzip, stdin) and remembering how far each one is imported.

A log is recognised by the SHA-256 of its first 4 KB (decompressed), so ``access.log`` is still
itself once rotated to ``access.log.1`` or compressed to ``access.log.2.gz``; its entry in
``<db_path>/imports.json`` holds the byte offset after its last imported line."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import gzip
import hashlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import IO, Any, Iterator

STDIN = "-"
STATE_FILE = "imports.json"
LOCK_FILE = "import.lock"
FINGERPRINT_BYTES = 4096
SAMPLE_BYTES = 65536  # read ahead once per file: the fingerprint and the format detection


class LogImportError(RuntimeError):
    """The import cannot start (another import runs, or the state file is unreadable)."""


class Source:
    """An open log file, gzip file or stdin, with its first bytes read ahead."""

    def __init__(self, name: str, stdin: IO[bytes] | None) -> None:
        self.name = name
        self.raw: IO[bytes] | None = None  # the file on disk (compressed for .gz), for progress
        if name == STDIN:
            if stdin is None:
                raise OSError("standard input is not available")
            self.stream, self.size, self.appendable, self.inode = stdin, None, False, 0
        else:
            raw = self.raw = open(name, "rb")  # noqa: SIM115  closed by close()
            stat = os.fstat(raw.fileno())
            self.size, self.inode = stat.st_size, stat.st_ino
            compressed = raw.read(2) == b"\x1f\x8b"  # by content: rotated logs are named anything
            raw.seek(0)
            self.stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            self.appendable = not compressed  # only a plain file can still be written to
        try:
            self.head = self.stream.read(SAMPLE_BYTES)
            if self.raw is not None:
                self.stream.seek(0)
        except BaseException:  # e.g. a .gz whose header is damaged
            self.close()
            raise

    def sample(self) -> list[bytes]:
        """The complete lines of the bytes read ahead (or the one line it has, if incomplete)."""
        lines = self.head.split(b"\n")
        return lines[:-1] or lines

    def lines(self, offset: int) -> Iterator[bytes]:
        """The lines from byte ``offset`` (decompressed) on, each with its b"\\n" but maybe the last."""
        if self.raw is not None:
            self.stream.seek(offset)
            return iter(self.stream)
        return self._stdin_lines(offset)

    def _stdin_lines(self, offset: int) -> Iterator[bytes]:
        skip = offset - len(self.head)
        while skip > 0:  # already imported: read past it
            chunk = self.stream.read(min(skip, SAMPLE_BYTES))
            if not chunk:
                return
            skip -= len(chunk)
        *complete, tail = self.head[offset:].split(b"\n")
        for line in complete:
            yield line + b"\n"
        if tail:
            yield tail + self.stream.readline()
        yield from self.stream

    def disk_position(self, offset: int) -> int:
        """Bytes of the file on disk read so far (compressed ones for a .gz), for progress."""
        return self.raw.tell() if self.raw is not None else offset

    def close(self) -> None:
        if self.raw is not None:
            self.stream.close()
            self.raw.close()


class ImportState:
    """``<db_path>/imports.json``: for each log imported, the SHA-256 of its first bytes (up to
    4 KB), how many bytes and lines of it are stored, and, for people reading the file, its last
    name, size and inode. Logs are recognised by content, so renamed and compressed copies too."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self.files: list[dict[str, Any]] = self._load()

    def _load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise LogImportError(f"cannot read {self.path} ({exc}); move it aside to import every file again") from None
        files = data.get("files") if isinstance(data, dict) else None
        keys = (("head", str), ("head_bytes", int), ("offset", int), ("lines", int))
        if not isinstance(files, list) or not all(
            isinstance(f, dict) and all(isinstance(f.get(k), t) for k, t in keys) for f in files
        ):
            raise LogImportError(f"{self.path} is not a Kero import state file; move it aside to import every file again")
        return files

    def find(self, head: bytes) -> dict[str, Any] | None:
        """The entry of the log starting with ``head`` (a log shorter than 4 KB then may have grown)."""
        for entry in self.files:
            size = entry["head_bytes"]
            if 0 < size <= len(head) and hashlib.sha256(head[:size]).hexdigest() == entry["head"]:
                return entry
        return None

    def record(self, entry: dict[str, Any] | None, source: Source, head: bytes, offset: int, lines: int) -> dict[str, Any]:
        """Remember ``source`` (``entry`` if it was seen before) as stored up to byte ``offset``."""
        if entry is None:
            entry = {}
            self.files.append(entry)
        entry.update(
            head=hashlib.sha256(head).hexdigest(), head_bytes=len(head), offset=offset, lines=lines,
            name=os.path.abspath(source.name) if source.name != STDIN else STDIN,
            size=source.size, inode=source.inode,
            updated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        )
        return entry

    def save(self) -> None:
        """Replace the file atomically, synced: a crash leaves the old state or the new one."""
        tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump({"version": 1, "files": self.files}, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.path)


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """One import per database at a time: two would each remember only their own offsets."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LogImportError("another kero import is writing to this database; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while a batch and its offset are written: stopping between
    the two would store the batch again on the next run. Re-raised right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])
