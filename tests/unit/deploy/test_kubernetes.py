"""deploy/kubernetes: schema-valid manifests whose names, labels and ports agree.

Every built-in resource is validated offline against the Kubernetes OpenAPI
schemas that ``kubernetes-validate`` bundles, in strict mode (an unknown or
misspelt field fails), for the oldest and newest Kubernetes versions we
claim. The ServiceMonitor is a Prometheus Operator CRD whose schema is not
bundled, so its key fields are checked here by hand. Then the references: a
Service selects the pods it is meant for and names their ports, the workers
reach the master through its Service, the locustfile path is where the
ConfigMap that the docs create is mounted, and the images and user are the
ones docker/ builds.
"""

from __future__ import annotations

import copy
import re
import shlex
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from locust_ml.cli import build_parser
from locust_ml.server.config import config_from_args
from tests.unit.deploy.deployfiles import (
    COMPOSE,
    DOCKER,
    KUBE,
    ROOT,
    Dockerfile,
    kube_docs,
    kube_resource,
    load_compose,
    only_container,
)

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install kubernetes-validate (the dev extra has it)"
)

#: Kubernetes versions the manifests are validated against (oldest and newest claimed).
VERSIONS = ("1.27", "1.33")
DOCS = (ROOT / "docs" / "distributed.md", KUBE / "README.md")
CONFIGMAP_COMMAND = re.compile(r"kubectl (?:-n \S+ )?create configmap (\S+) (--from-file=\S+)")


def pods(deployment: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = deployment["spec"]["template"]
    return template


def selected_deployments(selector: dict[str, str]) -> list[str]:
    return [
        doc["metadata"]["name"]
        for _, doc in kube_docs()
        if doc["kind"] == "Deployment"
        and selector.items() <= pods(doc)["metadata"]["labels"].items()
    ]


def container_port(deployment: dict[str, Any], target: str | int) -> int:
    for port in only_container(deployment).get("ports", []):
        if target in (port["name"], port["containerPort"]):
            number: int = port["containerPort"]
            return number
    raise AssertionError(f"{deployment['metadata']['name']} has no port {target!r}")


def service_port(service: dict[str, Any], name: str) -> dict[str, Any]:
    ports: list[dict[str, Any]] = [p for p in service["spec"]["ports"] if p["name"] == name]
    assert len(ports) == 1, f"{service['metadata']['name']}: port {name!r}"
    return ports[0]


def test_the_manifests() -> None:
    kinds = sorted((name, doc["kind"], doc["metadata"]["name"]) for name, doc in kube_docs())
    assert kinds == [
        ("master.yaml", "Deployment", "locust-master"),
        ("master.yaml", "Service", "locust-master"),
        ("monitoring.yaml", "Service", "locust-ml-exporter"),
        ("monitoring.yaml", "ServiceMonitor", "locust-ml"),
        ("reference-server.yaml", "Deployment", "locust-ml-server"),
        ("reference-server.yaml", "Service", "locust-ml-server"),
        ("worker.yaml", "Deployment", "locust-worker"),
    ]
    for _, doc in kube_docs():
        assert "namespace" not in doc["metadata"], "kubectl -n chooses the namespace"


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_resources_are_schema_valid(version: str) -> None:
    checked = 0
    for name, doc in kube_docs():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name} {doc['kind']} {doc['metadata']['name']}: {path}: {exc.message}")
        checked += 1
    assert checked == 6


def test_the_validator_works_offline_and_strictly() -> None:
    """It rejects a misspelt field and a wrong type, from its bundled schemas alone."""
    worker = kube_resource("Deployment", "locust-worker")
    for mutate in (
        lambda d: only_container(d).__setitem__("arg", ["--worker"]),
        lambda d: d["spec"].__setitem__("replicas", "4"),
    ):
        bad = copy.deepcopy(worker)
        mutate(bad)
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_deployments_select_their_own_pods_and_services_select_one_deployment() -> None:
    for _, doc in kube_docs():
        if doc["kind"] == "Deployment":
            selector = doc["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pods(doc)["metadata"]["labels"].items()
            assert selected_deployments(selector) == [doc["metadata"]["name"]]
        elif doc["kind"] == "Service":
            (deployment,) = selected_deployments(doc["spec"]["selector"])
            target = kube_resource("Deployment", deployment)
            for port in doc["spec"]["ports"]:
                container_port(target, port["targetPort"])


def test_workers_reach_the_master_through_its_service(
    locust_commands: dict[str, dict[str, Any]],
) -> None:
    master = locust_commands["kube:locust-master"]
    worker = locust_commands["kube:locust-worker"]
    assert master["master"]
    assert worker["worker"]
    service = kube_resource("Service", worker["master_host"])
    assert selected_deployments(service["spec"]["selector"]) == ["locust-master"]
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == worker["master_port"]]
    deployment = kube_resource("Deployment", "locust-master")
    assert container_port(deployment, port["targetPort"]) == master["master_bind_port"]
    assert (
        container_port(deployment, service_port(service, "web")["targetPort"]) == master["web_port"]
    )
    assert kube_resource("Deployment", "locust-worker")["spec"]["replicas"] >= 1


def test_the_exporter_service_and_servicemonitor(
    locust_commands: dict[str, dict[str, Any]],
) -> None:
    master = locust_commands["kube:locust-master"]
    assert master["exporter_host"] == "0.0.0.0"
    deployment = kube_resource("Deployment", "locust-master")
    exporter = kube_resource("Service", "locust-ml-exporter")
    assert selected_deployments(exporter["spec"]["selector"]) == ["locust-master"]
    metrics_port = service_port(exporter, "metrics")
    assert container_port(deployment, metrics_port["targetPort"]) == master["exporter_port"]
    # The master's own Service carries the port too (for kubectl port-forward).
    master_service = kube_resource("Service", "locust-master")
    assert service_port(master_service, "metrics")["port"] == master["exporter_port"]

    monitor = kube_resource("ServiceMonitor", "locust-ml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [
        doc["metadata"]["name"]
        for _, doc in kube_docs()
        if doc["kind"] == "Service" and selector.items() <= doc["metadata"]["labels"].items()
    ]
    assert services == ["locust-ml-exporter"], "it scrapes the exporter once, nothing else"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == metrics_port["name"]
    assert endpoint["path"] == "/metrics"
    interval, timeout = (int(endpoint[k].removesuffix("s")) for k in ("interval", "scrapeTimeout"))
    assert 0 < timeout <= interval <= 15
    assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    assert "release" in monitor["metadata"]["labels"]


def test_the_master_targets_the_example_server(locust_commands: dict[str, dict[str, Any]]) -> None:
    deployment = kube_resource("Deployment", "locust-ml-server")
    argv = ["serve", *Dockerfile.parse(DOCKER / "Dockerfile.server").exec_form("ENTRYPOINT")[2:]]
    config = config_from_args(
        build_parser().parse_args([*argv, *only_container(deployment)["args"]])
    )
    assert config.host == "0.0.0.0"
    service = kube_resource("Service", "locust-ml-server")
    port = service_port(service, "http")
    assert container_port(deployment, port["targetPort"]) == config.port
    container = only_container(deployment)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container_port(deployment, container[probe]["httpGet"]["port"]) == config.port
    master = locust_commands["kube:locust-master"]
    url = urllib.parse.urlsplit(master["host"])
    assert (url.hostname, url.port) == ("locust-ml-server", port["port"])
    assert ["locust-ml", f"http://locust-ml-server:{port['port']}/metrics"] in master["scrape"]


def documented_configmap() -> tuple[str, str, Path]:
    """(name, key, source file) of the ``kubectl create configmap`` the docs show."""
    commands = set()
    for doc in DOCS:
        found = {m.groups() for m in CONFIGMAP_COMMAND.finditer(doc.read_text())}
        assert found, f"{doc.relative_to(ROOT)} shows no kubectl create configmap"
        commands |= found
    assert len(commands) == 1, f"the docs show different ConfigMaps: {commands}"
    ((name, option),) = commands
    key, _, source = shlex.split(option)[0].removeprefix("--from-file=").partition("=")
    return name, key, ROOT / source


def test_the_locustfile_comes_from_the_documented_configmap(
    locust_commands: dict[str, dict[str, Any]],
) -> None:
    name, key, source = documented_configmap()
    assert source.is_file(), source
    for deployment_name in ("locust-master", "locust-worker"):
        deployment = kube_resource("Deployment", deployment_name)
        locustfile = Path(locust_commands[f"kube:{deployment_name}"]["locustfile"])
        volumes = {v["name"]: v for v in pods(deployment)["spec"]["volumes"]}
        (mount,) = [
            m
            for m in only_container(deployment)["volumeMounts"]
            if locustfile.parent == Path(m["mountPath"])
        ]
        assert volumes[mount["name"]]["configMap"]["name"] == name
        assert locustfile.name == key


def test_images_and_user_are_the_ones_docker_builds() -> None:
    built = {
        service["image"]: (DOCKER / service["build"]["context"] / service["build"]["dockerfile"])
        for service in load_compose(COMPOSE)["services"].values()
        if "build" in service
    }
    for _, doc in kube_docs():
        if doc["kind"] != "Deployment":
            continue
        container = only_container(doc)
        dockerfile = Dockerfile.parse(built[container["image"]].resolve())
        uid, _, gid = dockerfile.last("USER").partition(":")
        security = pods(doc)["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True
        assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid))
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["imagePullPolicy"] == "IfNotPresent"
        if container["image"].startswith("locust-ml:"):
            # No CPU limit: throttling a load generator shows up as target latency.
            assert "cpu" not in container["resources"].get("limits", {})


def test_the_master_keeps_its_report_in_a_volume() -> None:
    deployment = kube_resource("Deployment", "locust-master")
    workdir = Path(Dockerfile.parse(DOCKER / "Dockerfile.locust").last("WORKDIR"))
    mounts = {m["mountPath"]: m["name"] for m in only_container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in pods(deployment)["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts[str(workdir / "reports")]]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_kube_files_are_yaml_only() -> None:
    assert {p.suffix for p in KUBE.iterdir() if p.is_file()} <= {".yaml", ".md"}
