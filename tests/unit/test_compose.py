"""docker-compose.yml must wire the services to the configuration the code actually reads."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from segflow.infra.config import DEFAULT_KAFKA_BOOTSTRAP, ENV_VARS, Config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_images(compose):
    services = compose["services"]
    assert {"postgres", "kafka", "migrate", "worker", "console"} == set(services)
    assert "postgres:17" == services["postgres"]["image"]
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert "broker,controller" == services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert ["segflow", "db", "migrate"] == services["migrate"]["command"]
    worker = services["worker"]
    assert ["segflow", "worker", "--metrics-port", "9464"] == worker["command"]
    assert "9464:9464" in worker["ports"]
    assert "http://127.0.0.1:9464/healthz" in " ".join(worker["healthcheck"]["test"])
    assert "service_completed_successfully" == services["worker"]["depends_on"]["migrate"]["condition"]


def test_the_console_serves_on_the_published_port_once_migrated(compose):
    from segflow.cli.serve import serve

    console = compose["services"]["console"]
    command = console["command"]
    assert command[:2] == ["segflow", "serve"]
    # The command's options are serve's own: parsed by the CLI itself, not matched as text.
    options = serve.make_context("serve", command[2:]).params
    assert "0.0.0.0" == options["host"]  # noqa: S104 (reachable through the published port)
    assert f"{options['port']}:{options['port']}" in console["ports"]
    assert f"http://127.0.0.1:{options['port']}/login" in " ".join(console["healthcheck"]["test"])
    assert "service_completed_successfully" == console["depends_on"]["migrate"]["condition"]


@pytest.mark.parametrize("service", ["migrate", "worker", "console"])
def test_segflow_env_is_what_the_code_reads(compose, service):
    env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    assert set(env) <= set(ENV_VARS)
    config = Config.from_env(env)
    db = urlsplit(config.database_url or "")
    pg = compose["services"]["postgres"]["environment"]
    assert ("postgres", 5432) == (db.hostname, db.port)
    assert (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], "/" + pg["POSTGRES_DB"]) == (
        db.username,
        db.password,
        db.path,
    )
    kafka_env = compose["services"]["kafka"]["environment"]
    assert f"INTERNAL://{config.kafka_bootstrap}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_host_ports_match_the_cli_defaults(compose):
    kafka = compose["services"]["kafka"]
    default_port = DEFAULT_KAFKA_BOOTSTRAP.split(":")[1]
    assert f"{default_port}:{default_port}" in kafka["ports"]
    assert f"EXTERNAL://{DEFAULT_KAFKA_BOOTSTRAP}" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "5432:5432" in compose["services"]["postgres"]["ports"]


def test_dockerfile_copies_every_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("segflow", "engine", "nodes", "consumers", "schemas", "db"):
        assert f"COPY {package} {package}" in dockerfile


def test_the_image_copies_every_installed_package():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert [p for p in packages if f"COPY {p} {p}" not in dockerfile] == []
