"""Three hosts (three ``gunicorn -w 2`` servers, three db_paths) on one lake, under concurrent
load: every request stored once, one visitor across hosts counted once, and the same figures
on every host's dashboard and on ``kero serve --lake`` (a dashboard with no history of its own)."""

from __future__ import annotations

import sys
from pathlib import Path

import requests

from tests.conftest import CHROME_UA, free_port
from tests.flask.servers import serving
from tests.lake.hosts import Ledger, Traffic, lake_hosts, stats
from tests.reliability.servers import PASSWORD, USER

PER_HOST = 300
VISITOR_IP = "198.51.100.7"


def test_three_hosts_store_every_request_once_and_agree(tmp_path: Path, lake: str, lake_data: str) -> None:
    ledger = Ledger(tmp_path, lake, lake_data)
    try:
        with lake_hosts(3, tmp_path, lake, lake_data) as hosts:
            with Traffic(hosts, per_host=PER_HOST) as traffic:
                # Meanwhile one visitor (one address, one browser) reads a page on each host.
                for host in hosts:
                    response = requests.get(f"{host.server.url}/about", timeout=30,
                                            headers={"User-Agent": CHROME_UA, "X-Forwarded-For": VISITOR_IP})
                    assert response.status_code == 200
                traffic.wait()
            sent = traffic.sent()
            outcome = ledger.delivered(sent)
            print("\n" + outcome.line("3 hosts, concurrent load"))
            assert traffic.failures() == {}
            assert len(sent) >= 3 * PER_HOST * 0.9, "the load did not run"
            assert (outcome.lost, outcome.doubled, outcome.unanswered_stored) == (0, 0, 0)
            assert outcome.stored == len(sent)

            with ledger.kero.read() as con:
                about = con.execute("SELECT count(*), count(DISTINCT visitor_id) FROM events "
                                    "WHERE path = '/about'").fetchone()
            assert about == (3, 1), "one visitor on three hosts is one visitor"
            # Each host's clients are one visitor, plus the one who went everywhere.
            assert ledger.kero.count_visitors() == 4

            figures = [stats(host) for host in hosts]
            values = {figure["id"]: figure["value"] for figure in figures[0]["figures"]}
            assert (values["visitors"], values["views"]) == (4, len(sent) + 3)
            for other in figures[1:]:
                assert other == figures[0]
            port = free_port()
            serve = [str(Path(sys.executable).with_name("kero")), "serve", "--db", str(tmp_path / "dashboard"),
                     "--lake", lake, "--lake-data-path", lake_data, "--port", str(port), "--user", USER]
            with serving(serve, tmp_path / "serve.log", port=port, env={"KERO_PASSWORD": PASSWORD},
                         group_stop=True) as dashboard:
                assert stats(dashboard) == figures[0]
    finally:
        ledger.close()
