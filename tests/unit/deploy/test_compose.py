"""docker/: the compose stack, its Prometheus and Grafana files agree with each other and the code.

Nothing is built or started here (``tests/integration/test_docker_stack.py``
runs the stack where a docker daemon can run). These tests parse the files
and check every reference between them: build contexts and Dockerfiles
exist, command lines are accepted by the parsers that will read them in the
containers (``locust-ml serve``, ``locust``), the ports one service listens
on are the ports the others use, Prometheus scrapes the master's exporter
and the server where they listen, and Grafana's datasource and dashboard
provider point at what compose mounts and runs.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from locust_ml.cli import build_parser
from locust_ml.server.config import ServerConfig, config_from_args
from tests.unit.deploy.deployfiles import (
    COMPOSE,
    COMPOSE_GPU,
    COMPOSE_LOCAL,
    DOCKER,
    ROOT,
    Dockerfile,
    load_compose,
    service_env,
)

SERVICES = {"server", "master", "worker", "prometheus", "grafana"}
PROMETHEUS_YML = DOCKER / "prometheus" / "prometheus.yml"
DATASOURCES = DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
PROVIDERS = DOCKER / "grafana" / "provisioning" / "dashboards" / "locust-ml.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE)


@pytest.fixture(scope="module")
def compose_gpu() -> dict[str, Any]:
    return load_compose(COMPOSE, COMPOSE_GPU)


def published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """Container port -> (host address, host port) of a service's ``ports``."""
    out = {}
    for spec in service.get("ports", []):
        address, host_port, container_port = str(spec).split(":")
        out[int(container_port)] = (address, int(host_port))
    return out


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a path relative to docker/, or a volume name)."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = str(spec).split(":")[:2]
        out[target] = source
    return out


def server_config(compose: dict[str, Any]) -> ServerConfig:
    """The reference server's config, parsed by ``locust-ml serve``'s own parser."""
    image = Dockerfile.parse(DOCKER / "Dockerfile.server")
    entrypoint = image.exec_form("ENTRYPOINT")
    assert entrypoint[:2] == ["locust-ml", "serve"]
    argv = ["serve", *entrypoint[2:], *compose["services"]["server"]["command"]]
    return config_from_args(build_parser().parse_args(argv))


def host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


def test_the_stack_has_its_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    # Compose 1.29 (Debian's docker-compose, what an air-gapped Debian host
    # has) rejects a top-level name; the project is named by -p or the folder.
    assert set(compose) == {"services", "volumes", "x-locust-image"}


FILES = [(COMPOSE,), (COMPOSE, COMPOSE_GPU), (COMPOSE, COMPOSE_LOCAL)]
FILE_IDS = ["cpu", "gpu", "local"]


@pytest.mark.parametrize("files", FILES, ids=FILE_IDS)
def test_builds_and_images(files: tuple[Path, ...]) -> None:
    services = load_compose(*files)["services"]
    built: dict[str, Path] = {}
    for name, service in services.items():
        image = service["image"]
        build = service.get("build")
        if build is None:
            # Third-party images are pinned, so the stack doesn't change under us.
            assert ":" in image, f"{name}: pin {image}"
            assert image.rsplit(":", 1)[-1] != "latest", f"{name}: pin {image}"
            continue
        context = (DOCKER / build["context"]).resolve()
        assert context == ROOT, f"{name}: the build context is the repository root"
        dockerfile = context / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        # One image name, one Dockerfile: master, workers and gpu-agent share it.
        assert built.setdefault(image, dockerfile) == dockerfile, image
    assert built == {
        "locust-ml:dev": DOCKER / "Dockerfile.locust",
        "locust-ml-server:dev": DOCKER / "Dockerfile.server",
    }


@pytest.mark.parametrize("files", FILES, ids=FILE_IDS)
def test_depends_on_and_volumes_resolve(files: tuple[Path, ...]) -> None:
    data = load_compose(*files)
    services = data["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name} depends on {set(depends) - set(services)}"
        for target, source in mounts(service).items():
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{name}: {source} -> {target} is missing"
            else:
                assert source in data["volumes"], f"{name}: volume {source} is not declared"


def test_published_ports_are_loopback_only_and_distinct(compose: dict[str, Any]) -> None:
    host_ports = []
    for name, service in compose["services"].items():
        for container_port, (address, port) in published(service).items():
            assert address == "127.0.0.1", f"{name}:{container_port} is published on {address}"
            host_ports.append(port)
    assert len(host_ports) == len(set(host_ports))


def test_the_server_listens_where_the_others_look(
    compose: dict[str, Any], locust_commands: dict[str, dict[str, Any]]
) -> None:
    server = compose["services"]["server"]
    config = server_config(compose)
    # `serve` binds 127.0.0.1 unless told; the image tells it 0.0.0.0.
    assert config.host == "0.0.0.0"
    assert config.port in published(server)
    exposed = Dockerfile.parse(DOCKER / "Dockerfile.server").last("EXPOSE").split()
    assert str(config.port) in exposed
    probe = " ".join(server["healthcheck"]["test"])
    url = re.search(r"http://[^'\" ]+", probe)
    assert url is not None
    assert host_port(url.group(0)) == ("127.0.0.1", config.port)
    assert urllib.parse.urlsplit(url.group(0)).path == "/health/ready"
    assert compose["services"]["master"]["depends_on"]["server"]["condition"] == "service_healthy"
    # The master sends load to it and reads its telemetry there.
    master = locust_commands["compose:master"]
    assert host_port(master["host"]) == ("server", config.port)
    assert ["locust-ml", f"http://server:{config.port}/metrics"] in master["scrape"]


def test_master_and_workers(
    compose: dict[str, Any], locust_commands: dict[str, dict[str, Any]]
) -> None:
    master, worker = locust_commands["compose:master"], locust_commands["compose:worker"]
    assert master["master"]
    assert not master["worker"]
    assert worker["worker"]
    assert not worker["master"]
    assert worker["master_host"] == "master"
    assert "master" in compose["services"]
    assert worker["master_port"] == master["master_bind_port"]
    # Prometheus reaches the exporter from another container.
    assert master["exporter_host"] == "0.0.0.0"
    ports = published(compose["services"]["master"])
    assert master["exporter_port"] in ports
    assert master["web_port"] in ports
    # Workers scale: no fixed container name, no published port to collide on.
    service = compose["services"]["worker"]
    assert "container_name" not in service
    assert "ports" not in service
    assert service["deploy"]["replicas"] >= 1


def test_master_and_workers_run_the_same_locustfile(
    compose: dict[str, Any], locust_commands: dict[str, dict[str, Any]]
) -> None:
    image = Dockerfile.parse(DOCKER / "Dockerfile.locust")
    workdir = Path(image.last("WORKDIR"))
    files = set()
    for name in ("master", "worker"):
        locustfile = workdir / locust_commands[f"compose:{name}"]["locustfile"]
        target, source = next(
            (Path(t), s)
            for t, s in mounts(compose["services"][name]).items()
            if locustfile.is_relative_to(t)
        )
        on_host = (DOCKER / source / locustfile.relative_to(target)).resolve()
        assert on_host.is_file(), on_host
        files.add(on_host)
    assert files == {ROOT / "locustfiles" / "summarizer.py"}


def test_the_gpu_override_adds_an_agent_the_master_reads(
    compose_gpu: dict[str, Any], locust_commands: dict[str, dict[str, Any]]
) -> None:
    agent = compose_gpu["services"]["gpu-agent"]
    args = build_parser().parse_args([*agent["entrypoint"][1:], *agent["command"]])
    assert agent["entrypoint"][0] == "locust-ml"
    assert args.command == "gpu-agent"
    assert args.host == "0.0.0.0"
    devices = agent["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]
    scrape = locust_commands["compose+gpu:master"]["scrape"]
    assert ["gpu-agent", f"http://gpu-agent:{args.port}/metrics"] in scrape
    assert scrape[0] == locust_commands["compose:master"]["scrape"][0]  # the server's, kept
    assert "gpu-agent" in compose_gpu["services"]["master"]["depends_on"]


def test_headless_settings_pass_through_only_when_set(compose: dict[str, Any]) -> None:
    master = compose["services"]["master"]
    for name in ("LOCUST_HEADLESS", "LOCUST_AUTOSTART", "LOCUST_EXPECT_WORKERS"):
        assert master["environment"][name] is None  # compose: taken from the shell, if set
        assert name not in service_env(master)
    env = {
        "LOCUSTFILE": "image_classifier.py",
        "SERVER_BACKEND": "image-classifier",
        "TARGET_HOST": "http://model:8080",
    }
    custom = load_compose(COMPOSE, env=env)
    for name in ("master", "worker"):
        assert custom["services"][name]["command"][1] == "locustfiles/image_classifier.py"
    assert server_config(custom).backend == "image-classifier"
    master = custom["services"]["master"]["command"]
    assert master[master.index("--host") + 1] == "http://model:8080"
    assert (ROOT / "locustfiles" / "image_classifier.py").is_file()


def prometheus_targets() -> dict[str, list[str]]:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    out = {}
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        out[job["job_name"]] = [t for sc in job["static_configs"] for t in sc["targets"]]
    return out


def test_prometheus_scrapes_the_exporter_and_the_server(
    compose: dict[str, Any], locust_commands: dict[str, dict[str, Any]]
) -> None:
    exporter_port = locust_commands["compose:master"]["exporter_port"]
    assert prometheus_targets() == {
        "locust-ml": [f"master:{exporter_port}"],
        "reference-server": [f"server:{server_config(compose).port}"],
    }
    prometheus = compose["services"]["prometheus"]
    config_file = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    assert (DOCKER / mounts(prometheus)[config_file]).resolve() == PROMETHEUS_YML


def test_promtool_accepts_the_prometheus_config(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_YML)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_grafana_reads_the_provisioned_datasource_and_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    grafana_mounts = {(DOCKER / s).resolve(): t for t, s in mounts(grafana).items() if "/" in s}
    assert grafana_mounts[DOCKER / "grafana" / "provisioning"] == "/etc/grafana/provisioning"
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["access"] == "proxy"
    assert datasource["uid"]
    assert datasource["isDefault"] is True
    prometheus_port = 9090  # Prometheus' default --web.listen-address
    assert prometheus_port in published(compose["services"]["prometheus"])
    assert host_port(datasource["url"]) == ("prometheus", prometheus_port)
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    dashboards = grafana_mounts[DOCKER / "grafana" / "dashboards"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == dashboards
    home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.parent == Path(dashboards)
    assert (DOCKER / "grafana" / "dashboards" / home.name).is_file()
