"""HTTP pieces every adapter shares: the tracking pixel, the dashboard's Basic auth (its
check of the configured credentials too, so every way of serving the dashboard refuses the
same ones), and the check that a port is free before a server is started."""

from __future__ import annotations

import base64
import binascii
import hmac
import socket
from typing import Any, Mapping

from kero_core.config import KeroConfigError

# The smallest valid transparent 1x1 GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
PIXEL_HEADERS = (
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(PIXEL_GIF))),
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
)
REALM = 'Basic realm="Kero", charset="UTF-8"'


def basic_auth_ok(authorization: str | None, users: Mapping[str, str]) -> bool:
    """Whether an ``Authorization`` header carries one of ``users``' credentials.

    Compares bytes with :func:`hmac.compare_digest` (constant time, and it raises on non-ASCII
    ``str``, so names and passwords are compared UTF-8 encoded). Every configured user is
    compared, so the time taken does not tell which user name exists."""
    if not users or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        # A WSGI header is latin-1 decoded bytes: recover them before base64.
        raw = base64.b64decode(token.strip().encode("latin-1"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    user, sep, password = raw.partition(b":")
    if not sep:
        return False
    ok = False
    for name, secret in users.items():
        ok |= hmac.compare_digest(user, name.encode("utf-8")) & hmac.compare_digest(password, secret.encode("utf-8"))
    return ok


def credentials_problem(user: Any, password: Any) -> str | None:
    """Why ``user`` and ``password`` cannot protect the dashboard (the end of a sentence), or
    None when they can. An empty or blank password would let anyone in (``curl -u admin:``);
    a name with ':' or an empty one cannot be sent in a Basic ``Authorization`` header."""
    if not isinstance(user, str) or not user or ":" in user:
        return f"the user name {user!r} must be a non-empty string without ':'"
    if not isinstance(password, str):
        return f"the password of {user!r} must be a string, not {type(password).__name__}"
    if not password.strip():
        return f"the password of {user!r} is empty, which would let anyone open the dashboard: give it a password"
    return None


def checked_users(users: Mapping[str, str] | None, option: str = "users") -> dict[str, str]:
    """``users`` (user name -> password) as a new dict; KeroConfigError naming ``option`` when
    one of them cannot protect the dashboard (see :func:`credentials_problem`)."""
    if users is None:
        return {}
    if not isinstance(users, Mapping):
        raise KeroConfigError(f"{option} must map user names to passwords, got {type(users).__name__}.")
    for user, password in users.items():
        problem = credentials_problem(user, password)
        if problem:
            raise KeroConfigError(f"{option}: {problem}.")
    return dict(users)


def url_host(host: str) -> str:
    """``host`` as it stands in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def listen_problem(host: str, port: int) -> str | None:
    """Why a server cannot listen on ``host``:``port`` ("cannot listen on 127.0.0.1:8000 (Address
    already in use)"), or None when it can. Servers (werkzeug, gunicorn, runserver) reuse
    addresses, so a port left in TIME_WAIT is free; a listening socket is not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            return f"cannot listen on {url_host(host)}:{port} ({exc.strerror or exc})"
    return None
