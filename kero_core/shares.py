"""Shared links: a long random token that opens a read-only dashboard without credentials,
optionally locked to filters, until it expires or is revoked.

Only a hash of each token is stored (SHA-256: the tokens are 256 random bits, so no salt or slow
hash is needed), and a presented token is compared with every stored hash in constant time.
Rows are only ever appended (the lake has no primary keys, and two hosts updating one row
conflict): a revocation is a second row of the link's id, and reads take the latest state."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qs, urlencode

if TYPE_CHECKING:
    import duckdb

TOKEN_BYTES = 32  # 256 bits: 43 URL-safe characters
MAX_FILTERS = 2000  # characters of a lock's query string


@dataclass(frozen=True)
class Share:
    id: str  # short and public: what `kero share list` shows and `revoke` takes
    filters: str  # the locked filters as a query string ("" when none)
    created_at: datetime
    expires_at: datetime | None
    revoked: bool

    def status(self, now: datetime) -> str:
        """"active", "expired" or "revoked"."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def locked(self) -> dict[str, list[str]]:
        """The locked filters as query parameters."""
        return parse_qs(self.filters, keep_blank_values=True)


def create_table(con: "duckdb.DuckDBPyConnection") -> None:
    """Schema 7: the shared links (a revocation is a row with ``revoked`` and no hash)."""
    con.execute("CREATE TABLE IF NOT EXISTS shared_links (id VARCHAR NOT NULL, token_hash VARCHAR, filters VARCHAR, "
                "created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, revoked BOOLEAN NOT NULL)")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def normalized_filters(params: dict[str, list[str]]) -> str:
    """A lock's filters as the query string stored (one value per key, in a stable order)."""
    text = urlencode(sorted((key, values[-1]) for key, values in params.items()))
    if len(text) > MAX_FILTERS:
        raise ValueError(f"the filters of a shared link are at most {MAX_FILTERS} characters")
    return text


def create(con: "duckdb.DuckDBPyConnection", append: Callable[..., None], filters: str,
           expires: timedelta | None, now: datetime) -> tuple[Share, str]:
    """A new shared link and its token (shown once: only its hash is kept)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    share = Share(secrets.token_hex(4), filters, now, now + expires if expires else None, False)

    def transaction() -> None:
        con.execute("BEGIN")
        con.execute("INSERT INTO shared_links VALUES (?, ?, ?, ?, ?, false)",
                    [share.id, token_hash(token), share.filters, share.created_at, share.expires_at])
        con.execute("COMMIT")

    append(con, transaction)
    return share, token


def listed(con: "duckdb.DuckDBPyConnection") -> list[tuple[Share, str]]:
    """Every shared link, oldest first, with its token's hash."""
    rows = con.execute("""
        SELECT c.id, c.token_hash, c.filters, c.created_at, c.expires_at,
               EXISTS (SELECT 1 FROM shared_links AS r WHERE r.id = c.id AND r.revoked) AS revoked
        FROM shared_links AS c WHERE NOT c.revoked ORDER BY c.created_at, c.id""").fetchall()
    return [(Share(id, filters or "", created, expires, revoked), digest)
            for id, digest, filters, created, expires, revoked in rows]


def revoke(con: "duckdb.DuckDBPyConnection", append: Callable[..., None], id: str, now: datetime) -> Share | None:
    """Revoke the link ``id``; None when there is no such link. Revoking twice is harmless."""
    found = next((share for share, _ in listed(con) if share.id == id), None)
    if found is None or found.revoked:
        return found

    def transaction() -> None:
        con.execute("BEGIN")
        con.execute("INSERT INTO shared_links VALUES (?, NULL, NULL, ?, NULL, true)", [id, now])
        con.execute("COMMIT")

    append(con, transaction)
    return Share(found.id, found.filters, found.created_at, found.expires_at, True)


def find(con: "duckdb.DuckDBPyConnection", token: str) -> Share | None:
    """The link of ``token``, whatever its state; None for a token never issued. Every stored
    hash is compared, in constant time, so the time taken tells nothing about the token."""
    presented = token_hash(token).encode()
    match = None
    for share, digest in listed(con):
        if hmac.compare_digest(presented, digest.encode()):
            match = share
    return match
