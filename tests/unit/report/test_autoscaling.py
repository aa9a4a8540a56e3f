"""HPA and KEDA manifests from a measured capacity: values, fields, and schema checks.

There is no cluster here, so the manifests are checked against the parts of
the official schemas that a server would enforce, transcribed below: the
``autoscaling/v2`` HorizontalPodAutoscaler OpenAPI definitions (Kubernetes
``api/openapi-spec``) and KEDA's ``keda.sh/v1alpha1`` ScaledObject CRD
(``config/crd/bases/keda.sh_scaledobjects.yaml``): required fields, types,
enums, the Quantity pattern, and no unknown fields where the schema is closed.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from locust_ml.analysis.planning import Plan, UtilizationAt
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.cli import main
from locust_ml.errors import ConfigError
from locust_ml.report.autoscaling import (
    DEFAULT_PROMETHEUS_URL,
    autoscaling_manifests,
    scaling_target,
)
from locust_ml.report.model import RunReport
from tests.report_fixtures import capacity, decided, write_report

# The Kubernetes Quantity pattern (apimachinery resource.Quantity, as the CRDs carry it).
QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
INT32_MAX = 2**31 - 1

# A small subset of JSON Schema: type, required, properties, additionalProperties,
# items, enum, pattern, minimum. Enough to carry the official definitions' rules.
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": DNS_SUBDOMAIN.pattern},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}
METRIC_TARGET = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["Utilization", "Value", "AverageValue"]},
        "value": {"type": "string", "pattern": QUANTITY.pattern},
        "averageValue": {"type": "string", "pattern": QUANTITY.pattern},
        "averageUtilization": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}
HPA_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"type": "string", "enum": ["autoscaling/v2"]},
        "kind": {"type": "string", "enum": ["HorizontalPodAutoscaler"]},
        "metadata": OBJECT_META,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "maxReplicas"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["kind", "name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "minReplicas": {"type": "integer", "minimum": 1},
                "maxReplicas": {"type": "integer", "minimum": 1},
                "metrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {
                                "type": "string",
                                "enum": [
                                    "ContainerResource",
                                    "External",
                                    "Object",
                                    "Pods",
                                    "Resource",
                                ],
                            },
                            "pods": {
                                "type": "object",
                                "required": ["metric", "target"],
                                "properties": {
                                    "metric": {
                                        "type": "object",
                                        "required": ["name"],
                                        "properties": {
                                            "name": {"type": "string"},
                                            "selector": {"type": "object"},
                                        },
                                        "additionalProperties": False,
                                    },
                                    "target": METRIC_TARGET,
                                },
                                "additionalProperties": False,
                            },
                            "resource": {
                                "type": "object",
                                "required": ["name", "target"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "target": METRIC_TARGET,
                                },
                                "additionalProperties": False,
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
SCALED_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"type": "string", "enum": ["keda.sh/v1alpha1"]},
        "kind": {"type": "string", "enum": ["ScaledObject"]},
        "metadata": OBJECT_META,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer"},
                "cooldownPeriod": {"type": "integer"},
                "triggers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["metadata", "type"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {
                                "type": "string",
                                "enum": ["AverageValue", "Value", "Utilization"],
                            },
                            # KEDA trigger metadata is map[string]string.
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "integer": int}


def _scalar_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and not re.match(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if schema.get("type") == "integer" and not -INT32_MAX - 1 <= value <= INT32_MAX:
        errors.append(f"{path}: {value} does not fit int32")
    return errors


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Errors of ``value`` against the JSON Schema subset above."""
    kind = schema.get("type")
    if kind is not None and (not isinstance(value, _TYPES[kind]) or isinstance(value, bool)):
        return [f"{path}: expected {kind}, got {type(value).__name__} {value!r}"]
    errors = _scalar_errors(value, schema, path)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                errors += validate(item, props[key], f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}: unknown field {key!r}")
            elif isinstance(extra, dict):
                errors += validate(item, extra, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors


def test_the_validator_catches_what_it_should() -> None:
    good = {"type": "AverageValue", "averageValue": "28910m"}
    assert validate(good, METRIC_TARGET) == []
    assert validate({"type": "Average"}, METRIC_TARGET)  # enum
    assert validate({"type": "AverageValue", "averageValue": 28.9}, METRIC_TARGET)  # not a string
    assert validate({"type": "AverageValue", "averageValue": "28 rps"}, METRIC_TARGET)
    assert validate({"averageValue": "1"}, METRIC_TARGET)  # required
    assert validate({"type": "Value", "avgValue": "1"}, METRIC_TARGET)  # unknown field


# --------------------------------------------------------------------- fixtures


def report(
    slo_rps: float | None = 41.3,
    *,
    gpu: float | None = 0.82,
    cpu: float | None = 1.5,
    plan: dict[str, Any] | None = None,
) -> RunReport:
    """A decided report with what autoscale reads: capacity, utilization at it, the plan."""
    fields = (
        plan if plan is not None else {"target_utilization": 0.7, "redundancy": 1, "replicas": 19}
    )
    return decided(
        capacity=capacity(slo_rps),
        utilization={
            "slo_capacity": UtilizationAt(3, gpu_utilization=gpu, target_cpu_cores=cpu),
        },
        plan=Plan(
            target_rps=500.0,
            per_replica_rps=slo_rps or 0.0,
            target_utilization=float(fields["target_utilization"]),
            redundancy=int(fields["redundancy"]),
            replicas=int(fields["replicas"]),
        ),
        verdict=RunVerdict(passed=True, valid=True),
    )


def manifests(rep: RunReport | None = None, **kwargs: Any) -> dict[str, dict[str, Any]]:
    kwargs.setdefault("deployment", "summarizer")
    files = autoscaling_manifests(report() if rep is None else rep, **kwargs)
    return {name: yaml.safe_load(text) for name, text in files.items()}


def quantity(text: str) -> float:
    """A decimal or milli Kubernetes quantity as a number."""
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# --------------------------------------------------------------------- the HPA


def test_hpa_targets_capacity_times_utilization_per_pod() -> None:
    docs = manifests(namespace="ml")
    assert set(docs) == {"summarizer-hpa.yaml", "summarizer-keda-scaledobject.yaml"}
    hpa = docs["summarizer-hpa.yaml"]
    assert validate(hpa, HPA_SCHEMA) == []
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["metadata"]["name"] == "summarizer"
    assert hpa["metadata"]["namespace"] == "ml"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "summarizer",
    }
    # min = 1 + redundancy; max = the plan's replicas
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 19)
    (metric,) = spec["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "inference_requests_per_second"
    target = metric["pods"]["target"]
    assert target["type"] == "AverageValue"
    assert quantity(target["averageValue"]) == pytest.approx(41.3 * 0.7)  # 28.91


def test_keda_threshold_is_capacity_times_utilization_as_a_string() -> None:
    docs = manifests(namespace="ml", prometheus_url="http://prom.monitoring:9090")
    so = docs["summarizer-keda-scaledobject.yaml"]
    assert validate(so, SCALED_OBJECT_SCHEMA) == []
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["kind"] == "ScaledObject"
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == "summarizer"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 19)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "AverageValue"
    meta = trigger["metadata"]
    assert meta["serverAddress"] == "http://prom.monitoring:9090"
    assert isinstance(meta["threshold"], str)
    assert float(meta["threshold"]) == pytest.approx(41.3 * 0.7)
    assert meta["query"] == (
        'sum(rate(http_requests_total{namespace="ml",pod=~"summarizer-[a-z0-9]+-[a-z0-9]+"}[1m]))'
    )


def test_threshold_text_stays_a_string_in_the_yaml_even_when_whole() -> None:
    files = autoscaling_manifests(report(40.0), deployment="summarizer", target_utilization=0.5)
    text = files["summarizer-keda-scaledobject.yaml"]
    assert "threshold: '20'" in text
    assert "averageValue: '20'" in files["summarizer-hpa.yaml"]
    assert text.startswith("# Generated by locust-ml autoscale")
    assert "not both" in text


@pytest.mark.parametrize("u", [0.5, 0.7, 0.8, 1.0])
@pytest.mark.parametrize("capacity", [0.9, 12.0, 41.3, 133.333333, 1234.5678])
def test_target_equals_capacity_times_utilization(capacity: float, u: float) -> None:
    docs = manifests(report(capacity), target_utilization=u)
    hpa = docs["summarizer-hpa.yaml"]["spec"]["metrics"][0]["pods"]["target"]["averageValue"]
    keda = docs["summarizer-keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]
    # 3 decimals (a milli-unit), the precision a Quantity keeps
    assert quantity(hpa) == pytest.approx(capacity * u, abs=5e-4)
    assert float(keda["threshold"]) == quantity(hpa)


def test_gpu_metric_uses_percent_of_the_gpu_at_capacity() -> None:
    docs = manifests(metric="gpu")
    metric = docs["summarizer-hpa.yaml"]["spec"]["metrics"][0]
    assert metric["pods"]["metric"]["name"] == "DCGM_FI_DEV_GPU_UTIL"
    assert quantity(metric["pods"]["target"]["averageValue"]) == pytest.approx(82 * 0.7)
    trig = docs["summarizer-keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]
    assert float(trig["threshold"]) == pytest.approx(57.4)
    assert trig["query"].startswith("sum(avg by (pod) (DCGM_FI_DEV_GPU_UTIL{")
    for doc, schema in zip(docs.values(), (HPA_SCHEMA, SCALED_OBJECT_SCHEMA), strict=True):
        assert validate(doc, schema) == []


def test_cpu_metric_is_a_resource_average_value_in_cores() -> None:
    docs = manifests(metric="cpu")
    hpa = docs["summarizer-hpa.yaml"]
    assert validate(hpa, HPA_SCHEMA) == []
    metric = hpa["spec"]["metrics"][0]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "AverageValue", "averageValue": "1.05"}
    trig = docs["summarizer-keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]
    assert "container_cpu_usage_seconds_total" in trig["query"]
    assert trig["threshold"] == "1.05"


@pytest.mark.parametrize(("metric", "field"), [("gpu", "gpu_utilization"), ("cpu", "target_cpu")])
def test_an_unmeasured_metric_is_refused(metric: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        manifests(report(gpu=None, cpu=None), metric=metric)


def test_no_slo_capacity_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no SLO capacity"):
        manifests(report(None))
    with pytest.raises(ConfigError, match="no SLO capacity"):
        manifests(decided())  # no step was measured: no capacity analysis


def test_plan_sets_replicas_and_default_utilization() -> None:
    plan = {"target_utilization": 0.6, "redundancy": 2, "replicas": 25}
    target = scaling_target(report(50.0, plan=plan))
    assert (target.min_replicas, target.max_replicas) == (3, 25)
    assert target.target_utilization == 0.6
    assert target.target == pytest.approx(30.0)
    # explicit values win
    target = scaling_target(
        report(50.0, plan=plan), target_utilization=0.5, min_replicas=1, max_replicas=4
    )
    assert (target.min_replicas, target.max_replicas, target.target) == (1, 4, 25.0)


def test_without_a_plan_max_replicas_must_be_given() -> None:
    rep = replace(report(50.0), plan=None)
    with pytest.raises(ConfigError, match="--max-replicas"):
        scaling_target(rep)
    target = scaling_target(rep, max_replicas=8)
    assert (target.min_replicas, target.max_replicas) == (1, 8)
    assert target.target_utilization == 0.7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"deployment": "Summarizer"}, "--deployment 'Summarizer'"),
        ({"deployment": "-x"}, "--deployment"),
        ({"deployment": "a" * 254}, "--deployment"),
        ({"namespace": "my.ns"}, "--namespace 'my.ns'"),
        ({"namespace": "a" * 64}, "--namespace"),
        ({"name": "bad_name"}, "--name 'bad_name'"),
        ({"target_utilization": 0.0}, "--target-utilization"),
        ({"target_utilization": 1.5}, "--target-utilization"),
        ({"target_utilization": math.nan}, "--target-utilization"),
        ({"metric": "memory"}, "--metric 'memory'"),
        ({"metric": "cpu", "metric_name": "x"}, "--metric-name"),
        ({"counter": "requests-total"}, "--counter"),
        ({"prometheus_url": "prometheus:9090"}, "--prometheus-url"),
        ({"query": "  "}, "--query"),
        ({"min_replicas": 5, "max_replicas": 3}, "expected 1 <= min <= max"),
        ({"min_replicas": 0}, "expected 1 <= min <= max"),
    ],
)
def test_bad_values_are_config_errors_naming_the_option(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        manifests(**kwargs)


def test_dotted_names_are_valid_and_escaped_in_promql() -> None:
    docs = manifests(deployment="summarizer.v2", name="summarizer-v2")
    assert "summarizer-v2-hpa.yaml" in docs
    query = docs["summarizer-v2-keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]
    assert 'pod=~"summarizer\\\\.v2-[a-z0-9]+-[a-z0-9]+"' in query["query"]


def test_custom_query_and_metric_name_are_used_as_given() -> None:
    docs = manifests(query="sum(rate(my_reqs[2m]))", metric_name="my_rps")
    hpa = docs["summarizer-hpa.yaml"]["spec"]["metrics"][0]["pods"]["metric"]
    assert hpa["name"] == "my_rps"
    trig = docs["summarizer-keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]
    assert trig["query"] == "sum(rate(my_reqs[2m]))"
    assert trig["serverAddress"] == DEFAULT_PROMETHEUS_URL


# --------------------------------------------------------------------- the subcommand


def autoscale(*argv: str | Path) -> int:
    return main(["autoscale", *(str(a) for a in argv)])


_write = write_report


def test_run_autoscale_writes_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = _write(tmp_path / "report.json", report())
    out = tmp_path / "k8s"
    assert autoscale(rep, "--deployment", "summarizer", "-o", out, "--namespace", "ml") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "summarizer-hpa.yaml",
        "summarizer-keda-scaledobject.yaml",
    ]
    hpa = yaml.safe_load((out / "summarizer-hpa.yaml").read_text())
    assert validate(hpa, HPA_SCHEMA) == []
    stdout = capsys.readouterr().out
    assert "41.3 req/s per replica at SLO capacity x target utilization 0.7 = 28.91 req/s" in stdout


def test_run_autoscale_without_capacity_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = _write(tmp_path / "report.json", report(None))
    out = tmp_path / "k8s"
    assert autoscale(rep, "--deployment", "summarizer", "-o", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no SLO capacity" in err
    assert not out.exists()


# ------------------------------------------------ which reports, and what they say


def invalid(rep: RunReport) -> RunReport:
    reasons = ("step 2: 115 requests; p99<100ms needs at least 299", "generator busy")
    return replace(rep, verdict=RunVerdict(passed=False, valid=False, reasons=reasons))


def lower_bound(rep: RunReport) -> RunReport:
    assert rep.capacity is not None
    return replace(rep, capacity=replace(rep.capacity, bound="lower-bound"))


def test_an_invalid_report_is_refused_unless_forced() -> None:
    with pytest.raises(ConfigError) as info:
        manifests(invalid(report()))
    message = str(info.value)
    assert message.startswith(
        "the report's verdict is INVALID (step 2: 115 requests; p99<100ms needs at least 299 "
        "(and 1 more)): "
    )
    assert "--force" in message
    assert "\n" not in message
    files = autoscaling_manifests(invalid(report()), deployment="summarizer", force=True)
    for text in files.values():
        assert "# WARNING: made with --force from a report whose verdict is INVALID" in text
    # A valid report, passed or not, is used as it is.
    rep = replace(report(), verdict=RunVerdict(False, True, reasons=("p99 failed at step 5",)))
    assert "WARNING" not in "".join(autoscaling_manifests(rep, deployment="summarizer").values())


def test_a_lower_bound_capacity_is_flagged_in_the_comments() -> None:
    files = autoscaling_manifests(lower_bound(report()), deployment="summarizer")
    for text in files.values():
        assert "# WARNING: the SLO capacity is a lower bound: every step of the run met" in text
    assert validate(yaml.safe_load(files["summarizer-hpa.yaml"]), HPA_SCHEMA) == []


@pytest.mark.parametrize("replicas", [1e30, 2**31])
def test_an_absurd_plan_is_refused_with_one_line(replicas: float) -> None:
    plan = {"target_utilization": 0.7, "redundancy": 1, "replicas": replicas}
    with pytest.raises(ConfigError) as info:
        manifests(report(plan=plan))
    assert str(info.value).startswith("plan.replicas in the report ")
    assert "more replicas than Kubernetes accepts (at most 2147483647)" in str(info.value)
    assert manifests(report(plan={**plan, "replicas": 2**31 - 1}))


def test_run_autoscale_refuses_an_invalid_report_then_writes_it_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "report.json", lower_bound(invalid(report())))
    out = tmp_path / "k8s"
    assert autoscale(path, "--deployment", "summarizer", "-o", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("locust-ml autoscale: error: the report's verdict is INVALID (")
    assert not out.exists()
    assert autoscale(path, "--deployment", "summarizer", "-o", out, "--force") == 0
    err = capsys.readouterr().err
    assert "locust-ml autoscale: warning: the SLO capacity is a lower bound" in err
    assert "locust-ml autoscale: warning: made with --force" in err
    assert len(list(out.iterdir())) == 2
