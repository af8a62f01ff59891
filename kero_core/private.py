"""The data folder kept private: folders 0700 and files 0600 whatever the umask, and a refusal,
as ssh refuses a key file others can write, of folders another user owns or can write to.

Kero's folder holds every event (full referrer URLs) and the daily salts that make visitor ids
irreversible: a salt another user can read or plant lets that user re-identify visitors by
brute-forcing the small IPv4 space, and a spool file another user plants is ingested as real
page views. So ``db_path``, ``spool/``, ``salts/`` and ``lake-salts/`` (a lake host's copies of
the shared salts) must be owned by this process's user and
writable by no one else; Kero's own files in them are created readable by this user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
LAKE_SALTS = "lake-salts"  # a lake host's copies of the lake's salts (made only by a lake store)
CREATED = ("spool", "salts")  # the folders every db_path gets at start-up
SUBFOLDERS = (*CREATED, LAKE_SALTS)  # every folder Kero keeps inside db_path


def problem(path: Path, name: str) -> str | None:
    """One sentence saying why the existing folder ``path`` (called ``name`` in the message) is
    not safe for Kero's data, with the fix; None when it is owned by this process's user and
    writable by no one else. Changes nothing."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{name} {str(path)!r} cannot be checked ({exc.strerror})."
    me = os.geteuid()
    if st.st_uid != me:
        return (f"{name} {str(path)!r} is owned by another user (uid {st.st_uid}; Kero runs as uid {me}), who "
                f"could read or plant Kero's salts and events: use a folder owned by uid {me}, or chown it.")
    if st.st_mode & 0o022:
        return (f"{name} {str(path)!r} is writable by group or others (mode {stat.S_IMODE(st.st_mode):03o}), who "
                f"could plant Kero's salts and events: run chmod 700 {str(path)!r}.")
    return None


def owned(st: os.stat_result) -> bool:
    """Whether a file with this ``stat`` belongs to this process's user."""
    return st.st_uid == os.geteuid()


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Remove group and other permissions from ``path`` (this user's own file or folder), if it
    exists: files made before Kero created them privately, or by a library that honours the umask."""
    try:
        st = os.stat(path)
        if st.st_mode & 0o077 and owned(st):
            os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    except OSError:  # gone meanwhile, or not ours to change: the folder check is what protects
        pass


def prepare(db_path: Path) -> str | None:
    """Create ``db_path``, ``spool/`` and ``salts/`` with mode 0700 (existing ones owned by this user
    lose group and other access) and check each of them; returns the first problem (see
    :func:`problem`), or None. Nothing is created inside a folder that fails the check;
    ``lake-salts/`` is checked when it exists."""
    db_path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for folder, name in ((db_path, "db_path"), *((db_path / sub, f"db_path's {sub}/") for sub in SUBFOLDERS)):
        if folder.name in CREATED:
            folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        elif folder != db_path and not os.path.lexists(folder):
            continue  # made with mode 0700 when first needed, inside a db_path that passed
        found = problem(folder, name)
        if found:
            return found
        tighten(folder, FOLDER_MODE)
    for entry in os.scandir(db_path):  # Kero's files, e.g. kero.duckdb from before this check
        if entry.is_file(follow_symlinks=False):
            tighten(Path(entry.path))
    return None


def create_file(path: Path) -> int:
    """A new file ``path`` (it must not exist) opened for writing, readable by this user only
    whatever the umask; returns its descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
