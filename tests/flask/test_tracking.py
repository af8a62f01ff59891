"""What is recorded, through Flask's test client and through a real gunicorn -w 4 (the
``served`` fixture runs ``scenario.py`` both ways): Kero's TrackingTest cases, route templates,
statuses, durations, the pixel, the dashboard's auth, custom events, exact counts."""

from __future__ import annotations

from kero_core.http import PIXEL_GIF
from tests.flask import hello_site, scenario
from tests.flask.conftest import Served

EXPECTED_PATHS = ["/", "/boom", "/hello/earth", "/hello/world", "/missing", "/pricing", "/signup", "/slow", "/stream"]


def test_tracking_cases_of_kero(served: Served) -> None:
    """favicon, dashboard, pixel, assets, user-ignored prefix: not recorded; pages are."""
    named = sorted(e.path for e in served.page_views() if not e.path.startswith("/hello/n"))
    assert named == EXPECTED_PATHS
    for path in scenario.UNTRACKED:
        assert all(e.path != path for e in served.events), path


def test_exactly_one_page_view_per_request(served: Served) -> None:
    burst = [e for e in served.page_views() if e.path.startswith("/hello/n")]
    assert sorted(e.path for e in burst) == sorted(f"/hello/n{i}" for i in range(scenario.BURST))
    assert len(served.page_views()) == scenario.BURST + len(EXPECTED_PATHS)


def test_route_templates(served: Served) -> None:
    routes = {e.path: e.route for e in served.page_views()}
    assert routes["/hello/world"] == routes["/hello/earth"] == routes["/hello/n7"] == "/hello/<name>"
    assert (routes["/"], routes["/slow"], routes["/boom"]) == ("/", "/slow", "/boom")
    assert routes["/stream"] == "/stream"  # noted when Flask started the response, before streaming it
    assert routes["/missing"] == ""  # no rule matched
    assert routes["/pricing"] == ""  # a pixel page view: the app did not serve it


def test_statuses_404_and_500(served: Served) -> None:
    assert served.replies["/missing"].status == 404
    assert served.replies["/boom"].status == 500
    assert served.by_path("/missing").status == 404
    assert served.by_path("/boom").status == 500
    assert served.by_path("/hello/world").status == 200


def test_duration_covers_the_request_and_the_whole_response(served: Served) -> None:
    assert served.by_path("/slow").duration_ms >= hello_site.SLOW_SECONDS * 1000
    assert served.replies["/stream"].body == b"ab"
    assert served.by_path("/stream").duration_ms >= hello_site.STREAM_PAUSE * 1000
    assert served.by_path("/hello/world").duration_ms < hello_site.SLOW_SECONDS * 1000


def test_pixel_is_a_gif_and_records_the_referer_path(served: Served) -> None:
    reply = served.replies["pixel"]
    assert reply.status == 200 and reply.body == PIXEL_GIF and reply.body.startswith(b"GIF89a")
    assert reply.headers["Content-Type"] == "image/gif"
    assert "no-store" in reply.headers["Cache-Control"]
    event = served.by_path("/pricing")
    assert (event.referrer, event.utm_source, event.status) == ("", "mail", 200)
    assert served.replies["/visit.gif"].body == PIXEL_GIF  # without a Referer: a GIF, nothing recorded


def test_dashboard_refuses_unauthorized_requests(served: Served) -> None:
    for name in ["/_kero/", "dashboard wrong password", "missing asset"]:
        reply = served.replies[name]
        assert reply.status == 401, name
        assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert b"page views" not in reply.body


def test_dashboard_serves_authorized_requests(served: Served) -> None:
    assert served.replies["dashboard"].status == 200
    assert served.replies["dashboard"].headers["Content-Type"].startswith("text/html")
    mount = served.replies["dashboard mount"]
    assert mount.status == 308 and mount.headers["Location"].endswith("_kero/")


def test_dashboard_files_share_its_auth(served: Served) -> None:
    """Everything below the mount point (assets, CSV, JSON API) passes the same check first."""
    assert served.replies["missing asset"].status == 401
    assert served.replies["missing asset authorized"].status == 404
    linked = [name[len("asset "):] for name in served.replies if name.startswith("asset ") and not name.endswith(" authorized")]
    for url in linked:
        assert served.replies[f"asset {url}"].status == 401, url
        assert served.replies[f"asset {url} authorized"].status == 200, url


def test_custom_event_is_enriched_from_the_request(served: Served) -> None:
    [signup] = [e for e in served.events if e.name == "signup"]
    assert signup.labels == {"plan": "pro"}
    assert (signup.method, signup.path, signup.browser, signup.os) == ("GET", "/signup", "Chrome", "Windows")
    assert signup.visitor_id == served.by_path("/hello/world").visitor_id
    assert served.by_path("/signup").route == "/signup"  # the request itself is a page view too


def test_nothing_stored_names_the_ip_or_the_user_agent(served: Served) -> None:
    for event in served.events:
        text = repr(event)
        assert "127.0.0.1" not in text and "81.2.69.142" not in text
        assert "Mozilla/5.0" not in text


def test_real_server_logged_no_kero_problem(served: Served) -> None:
    assert "kero:" not in served.server_log
    assert "the host app failed" in served.server_log or not served.server_log  # the /boom traceback
