"""Readers for the deployment files, and the metric names our code really exposes.

The Kubernetes manifests are text that no test here can apply (no cluster),
and the docker stack runs only where a docker daemon can
(``tests/integration/test_docker_stack.py``), so their tests here check
*references*: a port
in one file against the port another file expects, a metric name in the
dashboard against what the exporter exposes. Everything a check compares
against comes from the real thing rather than a copy:

* command lines are parsed by the parsers that will parse them in the
  container: ``locust-ml serve`` and ``gpu-agent`` by :func:`locust_ml.cli.build_parser`,
  ``locust`` by Locust's own parser with our options registered. Importing
  Locust monkey-patches the process with gevent, which this pytest session
  must not be, so :func:`parse_locust_commands` runs it in one subprocess;
* metric names come from building the exporter's registry over a snapshot
  holding every canonical telemetry metric, and from the reference server's
  ``/metrics`` served in-process (:func:`exported_metrics`).

Helpers only; the tests are ``test_*.py`` beside this file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
KUBE = ROOT / "deploy" / "kubernetes"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "locust-ml.json"

__all__ = [
    "COMPOSE",
    "COMPOSE_GPU",
    "COMPOSE_LOCAL",
    "DASHBOARD",
    "DOCKER",
    "GRAFANA_VARIABLES",
    "KUBE",
    "ROOT",
    "Dockerfile",
    "dashboard_exprs",
    "dockerignore_excludes",
    "exported_metrics",
    "interpolate",
    "kube_docs",
    "kube_resource",
    "load_compose",
    "load_yaml_docs",
    "locust_command_lines",
    "only_container",
    "parse_locust_commands",
    "promql_labels",
    "promql_metric_names",
    "service_env",
    "substitute_grafana",
    "walk_dicts",
]


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# -- compose variable interpolation --------------------------------------------

_VAR = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>\w+)")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$``, recursively."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group("name") or m.group("bare")
            op, default = m.group("op"), m.group("default") or ""
            if op == ":-":
                return env.get(name) or default
            if op == "-":
                return env.get(name, default)
            return env.get(name, "")

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


# -- compose files and manifests -----------------------------------------------

COMPOSE = DOCKER / "compose.yaml"
COMPOSE_GPU = DOCKER / "compose.gpu.yaml"
COMPOSE_LOCAL = DOCKER / "compose.local.yaml"


def _merge(base: Any, over: Any, key: str = "") -> Any:
    if key == "depends_on":
        base, over = _depends(base), _depends(over)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(out[k], v, k) if k in out else v
        return out
    return over


def _depends(value: Any) -> Any:
    if isinstance(value, list):
        return {name: {"condition": "service_started"} for name in value}
    return value


def load_compose(*files: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Compose files merged as ``docker compose -f A -f B`` merges them, interpolated.

    Mappings merge key by key (``environment``, ``depends_on`` in either
    form), anything else in a later file replaces the earlier value. ``env``
    is the shell's environment for ``${VAR:-default}`` (empty: the defaults).
    """
    merged: dict[str, Any] = {}
    for path in files or (COMPOSE,):
        merged = _merge(merged, yaml.safe_load(path.read_text()))
    data: dict[str, Any] = interpolate(merged, env or {})
    return data


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's environment; a variable without a value (passed through
    from the shell, unset here) is left out, as compose leaves it out."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    return {k: str(v) for k, v in raw.items() if v is not None}


def kube_docs() -> list[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every manifest under deploy/kubernetes."""
    return [
        (path.name, doc) for path in sorted(KUBE.glob("*.yaml")) for doc in load_yaml_docs(path)
    ]


def kube_resource(kind: str, name: str) -> dict[str, Any]:
    found = [
        doc for _, doc in kube_docs() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def only_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    container: dict[str, Any] = containers[0]
    return container


def locust_command_lines() -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every ``locust`` command line of the stack and the manifests, with its environment."""
    cases: dict[str, tuple[list[str], dict[str, str]]] = {}
    for label, files in (("compose", (COMPOSE,)), ("compose+gpu", (COMPOSE, COMPOSE_GPU))):
        services = load_compose(*files)["services"]
        for name in ("master", "worker"):
            cases[f"{label}:{name}"] = (services[name]["command"], service_env(services[name]))
    for _, doc in kube_docs():
        if doc["kind"] != "Deployment":
            continue
        container = only_container(doc)
        if container["image"].startswith("locust-ml:"):
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            cases[f"kube:{doc['metadata']['name']}"] = (container["args"], env)
    return cases


# -- Dockerfiles and .dockerignore ---------------------------------------------


@dataclass(frozen=True)
class Dockerfile:
    """A Dockerfile as (instruction, arguments) pairs, continuation lines joined."""

    path: Path
    instructions: tuple[tuple[str, str], ...]
    args: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        out: list[tuple[str, str]] = []
        pending = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            whole = (pending + line).strip()
            pending = ""
            keyword, _, rest = whole.partition(" ")
            out.append((keyword.upper(), rest.strip()))
        args = {}
        for keyword, rest in out:
            if keyword == "ARG" and "=" in rest:
                name, _, default = rest.partition("=")
                args[name.strip()] = default.strip()
        return cls(path, tuple(out), args)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        if not found:
            raise AssertionError(f"{self.path.name} has no {keyword}")
        return found[-1]

    def exec_form(self, keyword: str) -> list[str]:
        """The last ``keyword`` (ENTRYPOINT, CMD) in its JSON exec form."""
        value = json.loads(self.last(keyword))
        assert isinstance(value, list), f"{self.path.name}: {keyword} is not exec form"
        return [str(v) for v in value]

    def stages(self) -> list[tuple[str, str | None]]:
        """(base image with ARGs substituted, stage name) for every FROM."""
        out = []
        for rest in self.all("FROM"):
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m.group(1), ""), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            out.append((image, name))
        return out

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of every COPY/ADD from the build context (no --from)."""
        out = []
        for kw, rest in self.instructions:
            if kw not in ("COPY", "ADD"):
                continue
            words = rest.split()
            if any(w.startswith("--from") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            out.append((words[:-1], words[-1]))
        return out


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out = out[:-2] + "(?:.*/)?"
                i += 1
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(ignore_file: Path, path: str) -> bool:
    """Whether ``path`` (relative to the context) is left out of the build context.

    Docker's rule: patterns are read in order, a pattern excludes (or, with
    ``!``, re-includes) the paths it matches and everything under them, and
    the last matching pattern wins.
    """
    rules = []
    for raw in ignore_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negate, _pattern_regex(pattern)))
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


# -- command lines -------------------------------------------------------------

_PARSE_SCRIPT = r"""
import json, os, sys
import locust  # noqa: F401 - patches this subprocess, never the test process
import locust_ml.plugin.hooks  # noqa: F401 - registers the --ml-* options
from locust.argument_parser import get_parser
from locust_ml.options import read_options
from locust_ml.telemetry.prometheus_scrape import parse_scrape_spec

results = []
for case in json.load(sys.stdin):
    saved = dict(os.environ)
    os.environ.update(case["env"])
    try:
        ns = get_parser(default_config_files=[]).parse_args(case["argv"])
        ml = read_options(ns)
        results.append({
            "locustfile": ns.locustfile, "host": ns.host, "master": ns.master,
            "worker": ns.worker, "master_host": ns.master_host, "master_port": ns.master_port,
            "master_bind_port": ns.master_bind_port, "web_port": ns.web_port,
            "headless": ns.headless, "expect_workers": ns.expect_workers,
            "exporter_port": (ml.telemetry.exporter or (None, None))[1],
            "exporter_host": (ml.telemetry.exporter or (None, None))[0],
            "scrape": [list(parse_scrape_spec(s)) for s in ml.telemetry.scrape],
        })
    except SystemExit as exc:
        results.append({"error": f"exit {exc.code}"})
    finally:
        os.environ.clear()
        os.environ.update(saved)
json.dump(results, sys.stdout)
"""


def parse_locust_commands(
    cases: Iterable[tuple[list[str], Mapping[str, str]]],
) -> list[dict[str, Any]]:
    """Parse ``locust`` command lines (argv, extra environment) as Locust would.

    One subprocess for all of them (importing Locust takes a second or two).
    Environment variables prefixed ``LOCUST_`` are removed first, so this
    shell's settings can't leak in. A command line Locust rejects gives
    ``{"error": ...}`` (with argparse's message on stderr).
    """
    payload = [{"argv": list(argv), "env": dict(env)} for argv, env in cases]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    proc = subprocess.run(
        [sys.executable, "-c", _PARSE_SCRIPT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    for case, result in zip(payload, results, strict=True):
        assert "error" not in result, f"locust rejects {case}: {proc.stderr[-2000:]}"
    return results


# -- PromQL --------------------------------------------------------------------

#: What Grafana substitutes, and a value that keeps the expression valid PromQL.
GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "1s",
    "$__range": "5m",
    "$window": "30s",
    "$endpoint": ".*",
}
_KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
    ]
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")


def substitute_grafana(expr: str) -> str:
    """``expr`` with Grafana's variables replaced by values PromQL accepts."""
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def _strip(expr: str) -> str:
    return _STRING.sub('""', substitute_grafana(expr))


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a (valid) PromQL expression selects.

    Not a PromQL parser: strings, label matchers, ranges and grouping clauses
    are removed, then every identifier that isn't a function call or a
    keyword is a metric name. ``promtool check rules`` checks the syntax.
    """
    text = _GROUPING.sub(" ", _MATCHERS.sub(" ", _strip(expr)))
    text = re.sub(r"\[[^\]]*\]", " ", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def promql_labels(expr: str) -> set[str]:
    """Label names used in matchers and grouping clauses of ``expr``."""
    text = _strip(expr)
    labels: set[str] = set()
    for block in _MATCHERS.findall(text):
        labels.update(_MATCHER_LABEL.findall(block))
    for group in _GROUPING.findall(text):
        labels.update(x.strip() for x in group.split(",") if x.strip())
    return labels


def walk_dicts(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside a parsed JSON/YAML document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_dicts(value)


def dashboard_exprs(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every query of a dashboard: panel targets, annotations, variables."""
    out: list[tuple[str, str]] = []
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for ann in dashboard.get("annotations", {}).get("list", []):
        if "expr" in ann:
            out.append((f"annotation {ann['name']!r}", ann["expr"]))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", query)
        assert m, f"variable {var['name']}: unsupported query {query!r}"
        out.append((f"variable {var['name']!r}", f"count by ({m.group(2)}) ({m.group(1)})"))
    return out


# -- metric names our code exposes ---------------------------------------------


def _exporter_exposition() -> str:
    from prometheus_client import generate_latest

    from locust_ml.analysis.histogram import LatencyHistogram
    from locust_ml.telemetry.exporter import (
        EndpointLatency,
        ExporterSnapshot,
        RequestCount,
        exporter_registry,
        hdr_to_buckets,
    )
    from locust_ml.telemetry.model import METRICS, TelemetrySample
    from locust_ml.telemetry.sampler import SourceStatus

    hist = LatencyHistogram()
    for ms in (12.0, 80.0, 450.0):
        hist.record_ms(ms)
    telemetry = []
    for spec in METRICS.values():
        labels = dict.fromkeys(spec.labels, "0")
        for sample_name in spec.sample_names:
            telemetry.append(TelemetrySample.of(1.0, "nvml", sample_name, 1.0, **labels))
    snapshot = ExporterSnapshot(
        requests=(
            RequestCount("/v1/chat/completions", "POST", "ok", 10),
            RequestCount("/v1/chat/completions", "POST", "shed", 1),
        ),
        latencies=(EndpointLatency("/v1/chat/completions", "POST", hdr_to_buckets(hist)),),
        users=4,
        target_rps=20.0,
        step_id=2,
        step_mode="open",
        telemetry=tuple(telemetry),
        telemetry_status=(SourceStatus("nvml", state="ok"),),
    )
    return generate_latest(exporter_registry(lambda: snapshot)).decode()


def _server_exposition() -> str:
    import asyncio

    import httpx

    from locust_ml.server.app import create_app
    from locust_ml.server.config import ServerConfig

    app = create_app(ServerConfig(backend="simulated", base_ms=1.0, per_item_ms=0.5))

    async def scrape() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            await client.get("/metrics")  # so the request counter has a series too
            response = await client.get("/metrics")
            response.raise_for_status()
            return response.text

    return asyncio.run(scrape())


def _series(text: str) -> dict[str, set[str]]:
    """Sample name -> label names, from an exposition (and every name its type implies)."""
    from prometheus_client.parser import text_string_to_metric_families

    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
    }
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, ("",)):
            out.setdefault(family.name + suffix, set())
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def exported_metrics() -> dict[str, set[str]]:
    """Sample name -> label names, of the master's exporter and the reference server.

    The labels Prometheus adds to every scraped series (``job``,
    ``instance``) are included.
    """
    merged: dict[str, set[str]] = {}
    for text in (_exporter_exposition(), _server_exposition()):
        for name, labels in _series(text).items():
            merged.setdefault(name, set()).update(labels | {"job", "instance"})
    return merged
