"""docker/build-local-base.sh, its Dockerfiles and compose.local.yaml agree with the stack.

The images are built and the stack run for real by
``tests/integration/test_docker_stack.py`` (where a docker daemon can run).
These checks need no daemon: the tags the script builds are the ones the
compose files name, the build arguments it passes are ones the Dockerfiles
declare, and Debian's Prometheus image runs compose.yaml's Prometheus command
with its mounts, as ``prom/prometheus`` does.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy.deployfiles import (
    COMPOSE,
    COMPOSE_LOCAL,
    DOCKER,
    Dockerfile,
    load_compose,
)

SCRIPT = DOCKER / "build-local-base.sh"
LOCAL_BASE = DOCKER / "Dockerfile.local-base"
LOCAL_PROMETHEUS = DOCKER / "Dockerfile.local-prometheus"


def script_tags() -> dict[str, str]:
    """The script's image tags: ``BASE=...`` and the like."""
    found = re.findall(r"^(BASE|PROMETHEUS|LOCUST|SERVER)=(\S+)$", SCRIPT.read_text(), re.M)
    return dict(found)


def test_the_script_builds_the_images_the_compose_files_name() -> None:
    tags = script_tags()
    services = load_compose(COMPOSE, COMPOSE_LOCAL)["services"]
    assert services["server"]["image"] == tags["SERVER"]
    assert services["master"]["image"] == services["worker"]["image"] == tags["LOCUST"]
    assert services["prometheus"]["image"] == tags["PROMETHEUS"]
    for name in ("server", "master", "worker"):
        assert services[name]["build"]["args"] == {"PYTHON_IMAGE": tags["BASE"]}, name


@pytest.mark.parametrize(
    ("dockerfile", "argument"),
    [
        (DOCKER / "Dockerfile.locust", "PYTHON_IMAGE"),
        (DOCKER / "Dockerfile.server", "PYTHON_IMAGE"),
        (LOCAL_PROMETHEUS, "BASE_IMAGE"),
        (LOCAL_BASE, "ROOTFS"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_the_script_sets_an_argument_each_dockerfile_declares(
    dockerfile: Path, argument: str
) -> None:
    image = Dockerfile.parse(dockerfile)
    assert argument in image.args, f"{dockerfile.name} declares no ARG {argument}"
    assert all(f"${{{argument}}}" in rest for rest in image.all("FROM")), "every stage is FROM it"
    assert re.search(rf"\b{argument}=", SCRIPT.read_text()), f"the script sets no {argument}"


def test_debians_prometheus_runs_composes_prometheus_command() -> None:
    service = load_compose(COMPOSE, COMPOSE_LOCAL)["services"]["prometheus"]
    image = Dockerfile.parse(LOCAL_PROMETHEUS)
    assert image.exec_form("ENTRYPOINT") == ["/usr/bin/prometheus"]
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in service["command"])
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in service["volumes"]}
    # The configuration compose mounts is the one it names; the data volume
    # is the image's working folder, which its user owns.
    assert mounts[flags["config.file"]] == "./prometheus/prometheus.yml"
    assert mounts[flags["storage.tsdb.path"]] == "prometheus-data"
    assert image.last("WORKDIR") == flags["storage.tsdb.path"]
    user = image.last("USER")
    assert user == "65534:65534", "nobody, as in prom/prometheus, so an old volume stays writable"
    assert any(f"chown {user} {flags['storage.tsdb.path']}" in run for run in image.all("RUN"))


def test_the_script_explains_itself_and_refuses_unknown_arguments() -> None:
    assert subprocess.run(["sh", "-n", str(SCRIPT)], check=False).returncode == 0
    usage = subprocess.run(
        ["sh", str(SCRIPT), "--help"], capture_output=True, text=True, check=False, timeout=30
    )
    assert usage.returncode == 0
    assert "locust-ml-base:bookworm" in usage.stdout
    assert "set -eu" not in usage.stdout
    bad = subprocess.run(
        ["sh", str(SCRIPT), "--bogus"], capture_output=True, text=True, check=False, timeout=30
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "build-local-base.sh: unknown argument --bogus "
        "(expected --base-only, --force, --no-host-ca)"
    ]
