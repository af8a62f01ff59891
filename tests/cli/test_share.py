"""``kero share create/list/revoke``: the URL printed once, the list, revocation, and every
mistake's one-line answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug.test import Client

from kero_core.cli.common import open_kero
from kero_core.wsgi import KeroMiddleware
from tests.cli.conftest import invoke


def site(environ: dict, start_response):  # type: ignore[no-untyped-def,type-arg]
    start_response("200 OK", [])
    return [b""]


def test_create_prints_a_url_that_opens_until_revoked(db: Path) -> None:
    created = invoke("share", "create", "--db", db, "--filters", "country=CH&path!=/admin", "--expires", "30d",
                     "--url", "https://example.com/_kero/")
    assert created.exit_code == 0, created.stderr
    url = created.stdout.strip()
    found = re.fullmatch(r"https://example\.com/_kero/share/([A-Za-z0-9_-]{43})/", url)
    assert found, url
    link_id = re.search(r"Shared link ([0-9a-f]{8}): read-only, until \d{4}-\d\d-\d\d \d\d:\d\d UTC, locked to ", created.stderr).group(1)
    listing = invoke("share", "list", "--db", db).stdout.splitlines()
    assert listing[0].split() == ["id", "status", "created", "(UTC)", "expires", "(UTC)", "locked", "filters"]
    assert listing[1].split()[:2] == [link_id, "active"] and listing[1].endswith("country=CH&path!=/admin")
    with open_kero(db) as kero:
        client = Client(KeroMiddleware(site, kero))
        assert client.get(f"/_kero/share/{found.group(1)}/").status_code == 200
        assert invoke("share", "revoke", "--db", db, link_id).stdout == f"Revoked shared link {link_id}.\n"
        assert client.get(f"/_kero/share/{found.group(1)}/").status_code == 403
    assert invoke("share", "list", "--db", db).stdout.splitlines()[1].split()[:2] == [link_id, "revoked"]


def test_list_without_links(db: Path) -> None:
    assert invoke("share", "list", "--db", db).stdout == "No shared links.\n"


@pytest.mark.parametrize("args, message", [
    (["create", "--filters", "period=7d"], "Invalid value for --filters: a shared link locks filters only"),
    (["create", "--filters", "colour=red"], "unknown filter 'colour'"),
    (["create", "--expires", "soon"], "'soon' is not a time span"),
    (["revoke", "deadbeef"], "no shared link has the id 'deadbeef'"),
    (["revoke"], "Missing argument 'ID'"),
])
def test_share_mistakes_are_one_line(db: Path, args: list[str], message: str) -> None:
    result = invoke("share", args[0], "--db", db, *args[1:])
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert invoke("share", "list", "--db", db).stdout == "No shared links.\n"
