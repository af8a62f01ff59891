"""Which app a Kero serves: the folder a relative ``db_path`` is resolved against, and the name an
app claims its ``db_path`` under so that a second app on the same folder is refused.

A relative ``db_path`` follows the app, not the working directory: started from another folder
(a service manager, a cron job, a shell elsewhere) the same app would otherwise write into a new,
empty database. The app's folder is Flask's ``app.root_path``, Django's ``BASE_DIR`` (else the
folder of the settings module), and for ``kero_core.Kero`` itself the folder of the file that
creates it (the working directory from an interactive session).

Two apps on one ``db_path`` would mix their pages on one dashboard, and the shorter retention would
prune the other app's events. The adapters (Flask, Django, the WSGI and ASGI middleware) claim the
folder for their app in ``<db_path>/app.json`` when they start, and a different app is refused
with a :class:`~kero_core.config.KeroConfigError`. Readers (``kero`` commands, scripts calling
``count`` or ``query``) claim nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

from kero_core.config import KeroConfigError

CLAIM_FILE = "app.json"
_OWN_PACKAGES = ("kero_core", "kero_flask", "kero_django")


def _outside_kero(frame: FrameType | None) -> FrameType | None:
    """The first frame, from ``frame`` outwards, of code that is not Kero's own."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__") or "")
        if module.partition(".")[0] not in _OWN_PACKAGES:
            return frame
        frame = frame.f_back
    return None


class Caller(NamedTuple):
    """Where the code that called into Kero lives."""

    folder: Path  # its file's folder; the working directory when it has no file
    app: str  # the name it claims a db_path under, e.g. ``wsgi:myapp``


def caller() -> Caller:
    """The code that called into Kero: the first frame outside Kero's packages. Code without a
    file (an interactive session, ``python -c``, a notebook cell) has the working directory."""
    frame = _outside_kero(sys._getframe(1))
    filename = frame.f_code.co_filename if frame is not None else ""
    module = str(frame.f_globals.get("__name__") or "") if frame is not None else ""
    path = Path(filename)
    folder = path.resolve().parent if filename and path.is_file() else Path.cwd()
    return Caller(folder, "wsgi:" + module_name(module))


def module_name(name: str) -> str:
    """``name``, with ``__main__`` (``python app.py``) replaced by the main file's name (``app``),
    which is what the same module is called when a server imports it (``gunicorn app:app``)."""
    if name == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        return Path(main_file).stem if main_file else name
    return name


def resolve_db_path(value: Any, root: str | os.PathLike[str] | None) -> Any:
    """``value`` made absolute against ``root`` when it is a relative path (anything else is left
    for the option's validation to judge). ``~`` is expanded first."""
    if not isinstance(value, (str, os.PathLike)) or value == "" or root is None:
        return value
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(root) / path


def claimed_by(folder: Path) -> str | None:
    """The app that claimed ``folder``, None when none has (or the claim cannot be read)."""
    try:
        return str(json.loads((folder / CLAIM_FILE).read_text(encoding="utf-8"))["app"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claim(folder: Path, app: str) -> None:
    """Record ``folder`` as the data of ``app``, or raise KeroConfigError when another app has.

    Every process of an app (pre-fork workers, the reloader) makes the same claim; the first
    writes it atomically (a hard link never replaces an existing file), the others read it."""
    path = folder / CLAIM_FILE
    if not path.exists():
        tmp = folder / f".{CLAIM_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps({"app": app}) + "\n", encoding="utf-8")
            os.link(tmp, path)
        except FileExistsError:  # another process of this or another app was first
            pass
        except OSError:  # a read-only folder: nothing can be recorded there anyway
            return
        finally:
            tmp.unlink(missing_ok=True)
    owner = claimed_by(folder)
    if owner is not None and owner != app:
        raise KeroConfigError(
            f"db_path {str(folder)!r} holds the data of another app ({owner}), and two apps on one db_path "
            f"mix their pages and prune each other's events: give this app ({app}) its own db_path, or delete "
            f"{str(path)!r} if {owner} no longer uses that folder."
        )
