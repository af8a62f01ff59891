"""The deployment example (example_sites/scale_out/docker-compose.yml): its services agree with
each other and with Kero's options, and run as written. Docker is not needed: the test starts
the same services as local processes (a real PostgreSQL, a local S3 server for MinIO, the
compose's own commands and environments for the two site replicas and the dashboard, with only
host names, ports and folders replaced), sends traffic to both replicas, stops them with SIGTERM
as ``docker compose stop`` does, and reads every request on the dashboard container's API."""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
import requests
import yaml

from kero_core.config import OPTIONS, make_config
from kero_flask.settings import ADMIN_PASSWORD, ADMIN_USER, key_of
from tests.cli.conftest import CHROME_UA
from tests.flask.servers import serving
from tests.conftest import free_port
from tests.lake.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_sites" / "scale_out"
SITES = ("site1", "site2")
REQUESTS_PER_SITE = 30
PAGES = ("/", "/pricing", "/blog", "/blog/hello-kero", "/api/posts", "/about")


def services() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLE / "docker-compose.yml").read_text())["services"]


def libpq(lake: str) -> dict[str, str]:
    """The key=value pairs of a 'postgres:...' lake string."""
    return dict(pair.split("=", 1) for pair in shlex.split(lake.removeprefix("postgres:")))


def dockerfile() -> dict[str, str]:
    """The Dockerfile's instructions (the last of each kind)."""
    lines = [line.split(None, 1) for line in (EXAMPLE / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {word.upper(): rest for word, rest in lines}


def test_the_services_agree_with_each_other_and_with_kero(tmp_path: Path) -> None:
    found = services()
    assert {"postgres", "minio", "bucket", *SITES, "dashboard"} <= set(found)
    site, dashboard = found["site1"], found["dashboard"]
    assert found["site2"]["environment"] == site["environment"] and found["site2"]["command"] == site["command"]
    env, dash_env = site["environment"], dashboard["environment"]

    # Every FLASK_KERO_* variable becomes a KERO_* key the Flask extension knows.
    flask_keys = {key_of(option.name) for option in OPTIONS} | {ADMIN_USER, ADMIN_PASSWORD}
    assert {name.removeprefix("FLASK_") for name in env if name.startswith("FLASK_KERO_")} <= flask_keys
    # The sites and the dashboard name one lake, valid for Kero, in the catalog PostgreSQL has.
    lake, data_path = env["FLASK_KERO_LAKE"], env["FLASK_KERO_LAKE_DATA_PATH"]
    assert (dash_env["KERO_LAKE"], dash_env["KERO_LAKE_DATA_PATH"]) == (lake, data_path)
    config = make_config(db_path=tmp_path / "kero", lake=lake, lake_data_path=data_path)
    assert config.lake_data_path == "s3://kero/lake/"
    pg = found["postgres"]["environment"]
    assert libpq(lake) == {"dbname": pg["POSTGRES_DB"], "host": "postgres", "user": pg["POSTGRES_USER"]}
    assert "password" not in lake and env["PGPASSWORD"] == dash_env["PGPASSWORD"] == pg["POSTGRES_PASSWORD"]
    # The S3 credentials are MinIO's, and the bucket the one-shot service makes is the data path's.
    minio = found["minio"]["environment"]
    for e in (env, dash_env):
        assert (e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"]) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
        assert e["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert re.search(r"mc mb --ignore-existing lake/(\S+)", " ".join(found["bucket"]["entrypoint"])).group(1) == "kero"
    # One set of dashboard credentials; the containers keep no volume (their disks are ephemeral).
    assert dash_env["KERO_PASSWORD"] == env["KERO_ADMIN_PASSWORD"] and "--user" in dashboard["command"]
    assert all("volumes" not in found[name] for name in (*SITES, "dashboard"))
    assert int(site["stop_grace_period"].removesuffix("s")) >= 20
    # The image installs extras that exist and starts in the site's folder.
    extras = re.search(r'"/src\[([a-z,]+)\]"', dockerfile()["RUN"]).group(1).split(",")
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(optional) and {"lake", "flask"} <= set(extras)
    assert (REPO / dockerfile()["WORKDIR"].removeprefix("/src/") / "app.py").is_file()
    assert site["build"]["dockerfile"] == "example_sites/scale_out/Dockerfile"
    assert (EXAMPLE / site["build"]["context"]).resolve() == REPO


def local(command: list[str], port: int) -> list[str]:
    """A service's command as a local process: the venv's programs, 127.0.0.1 and a free port,
    two gunicorn workers (this machine has two cores)."""
    programs = {"gunicorn": str(Path(sys.executable).with_name("gunicorn")), "kero": str(Path(sys.executable).with_name("kero"))}
    args = [programs.get(command[0], command[0])] + [
        arg.replace("0.0.0.0:8000", f"127.0.0.1:{port}").replace("0.0.0.0", "127.0.0.1") for arg in command[1:]]
    if "--port" in args:
        args[args.index("--port") + 1] = str(port)
    if "-w" in args:
        args[args.index("-w") + 1] = "2"
    return args


def test_the_services_run_as_written_and_the_dashboard_shows_both_replicas(
        tmp_path: Path, postgres: PostgresServer, s3_server: str) -> None:
    found = services()
    catalog = libpq(postgres.create_database("compose"))

    def environment(service: str, name: str) -> dict[str, str]:
        env = {key: str(value) for key, value in found[service]["environment"].items()}
        for key in ("FLASK_KERO_LAKE", "KERO_LAKE"):
            if key in env:  # the catalog's host and database: this test's PostgreSQL
                pairs = {**libpq(env[key]), "host": catalog["host"], "port": catalog["port"], "dbname": catalog["dbname"]}
                env[key] = "postgres:" + " ".join(f"{k}={v}" for k, v in pairs.items())
        env["AWS_ENDPOINT_URL"] = s3_server  # MinIO's place
        env.pop("PGPASSWORD")  # the test's PostgreSQL trusts local connections
        for key in ("FLASK_KERO_DB_PATH",):
            if key in env:
                env[key] = str(tmp_path / name / "kero")
        return env

    site_env = environment("site1", "site")
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=site_env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=site_env["AWS_SECRET_ACCESS_KEY"],
                 region_name=site_env["AWS_REGION"]).create_bucket(Bucket="kero")
    workdir = REPO / dockerfile()["WORKDIR"].removeprefix("/src/")
    sent = 0
    for name in SITES:  # one after the other: the second meets the lake the first created
        port = free_port()
        args = local(found[name]["command"], port)
        with serving(args, tmp_path / f"{name}.log", port=port, env=environment(name, name), cwd=workdir) as server:
            for n in range(REQUESTS_PER_SITE):
                answer = requests.get(server.url + PAGES[n % len(PAGES)], headers={"User-Agent": CHROME_UA}, timeout=30)
                assert answer.status_code == 200, (answer.status_code, server.log())
                sent += 1
        # Stopped with SIGTERM to the master, as `docker compose stop` does: the workers committed
        # their spool before exiting.
        assert "Traceback" not in server.log(), server.log()

    port = free_port()
    dash_env = environment("dashboard", "dashboard")
    with serving(local(found["dashboard"]["command"], port), tmp_path / "dashboard.log", port=port,
                 env=dash_env, group_stop=True) as dashboard:
        auth = ("admin", dash_env["KERO_PASSWORD"])
        assert requests.get(dashboard.url + "/_kero/", timeout=30).status_code == 401
        page = requests.get(dashboard.url + "/_kero/?period=today", auth=auth, timeout=60)
        assert page.status_code == 200 and "/pricing" in page.text
        api = requests.get(dashboard.url + "/_kero/api/stats?period=today", auth=auth, timeout=60).json()
    views = next(f for f in api["figures"] if f["id"] == "views")["value"]
    assert views == sent == 2 * REQUESTS_PER_SITE
    visitors = next(f for f in api["figures"] if f["id"] == "visitors")["value"]
    assert visitors == 1  # one browser, one address, two replicas: one visitor
    assert "password" not in dashboard.log().lower() or "***" in dashboard.log()
