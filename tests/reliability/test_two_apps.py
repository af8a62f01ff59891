"""Two different apps, a Flask site and a Django site, both under `gunicorn -w 2` and pointed at
the same db_path at once (a site and its admin app, say). Two apps on one folder would mix their
pages and prune each other's events (issue 17), so the second to start is refused: its pages are
served as usual but not recorded, and its log says why; the first records everything."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from kero_core import Kero
from tests.reliability.load import Load
from tests.reliability.servers import gunicorn

FLASK_SITE = Path(__file__).resolve().parents[2] / "example_sites" / "flask_site"
FLASK_PATHS = ("/about", "/blog", "/blog/hello-kero")
DJANGO_PATHS = ("/hello/ada", "/hello/alan")
SECONDS = 4.0


def test_flask_and_django_on_one_db_path(tmp_path: Path) -> None:
    db_path = tmp_path / "kero"
    (tmp_path / "flask").mkdir()
    (tmp_path / "django").mkdir()
    flask_env = {"FLASK_KERO_DB_PATH": str(db_path)}
    django_env = {"DJANGO_SETTINGS_MODULE": "tests.django.project.settings", "KERO_TEST_DB_PATH": str(db_path)}
    with gunicorn("app:create_app()", tmp_path / "flask", "--chdir", str(FLASK_SITE), workers=2, env=flask_env) as flask, \
            gunicorn("tests.django.project.wsgi:application", tmp_path / "django", workers=2, env=django_env) as django:
        with Load(flask.url, clients=3, seconds=SECONDS, paths=FLASK_PATHS) as flask_load, \
                Load(django.url, clients=3, seconds=SECONDS, paths=DJANGO_PATHS) as django_load:
            flask_tally, django_tally = flask_load.wait(), django_load.wait()
    with Kero(db_path=db_path) as reader:
        stored = Counter(dict(reader.top("path", metric="events", limit=100)))
    flask_stored = sum(stored[p] for p in FLASK_PATHS)
    django_stored = sum(stored[p] for p in DJANGO_PATHS)
    print(f"\n[Flask + Django, one db_path: Django refused] Flask sent={flask_tally.sent} stored={flask_stored}; "
          f"Django sent={django_tally.sent} stored={django_stored}; other paths stored="
          f"{sum(stored.values()) - flask_stored - django_stored}; app errors="
          f"{dict(flask_tally.failures + django_tally.failures)}")
    assert flask_tally.failures == {} and django_tally.failures == {}
    assert flask_tally.sent > 0 and django_tally.sent > 0
    assert stored == flask_tally.by_path()  # the Flask site started first and claimed the folder
    assert "Traceback" not in flask.log() and "kero:" not in flask.log(), flask.log()
    django_log = django.log()
    assert "Traceback" not in django_log, django_log
    assert "kero: not tracking" in django_log and "holds the data of another app (flask:app)" in django_log, django_log
