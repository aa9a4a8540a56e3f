"""Autoscaling manifests from a measured capacity: a Kubernetes HPA and a KEDA ScaledObject.

A load test measures how much one replica sustains within its SLO; an
autoscaler needs the per-replica *target* it should keep each pod at. The two
are one multiplication apart::

    target per replica = capacity per replica at the SLO x target utilization

with the target utilization (default 0.7) the headroom that absorbs a burst
while new replicas start (see ``locust-ml coldstart`` for how long that takes).
Both manifests scale on the same signal with the same target, so either can be
applied -- but **not both** on one Deployment: KEDA creates an HPA of its own,
and two HPAs on one target fight.

Which signal (``metric``), in the unit the report measured it in:

* ``requests`` (default) -- request rate per pod, the quantity the SLO capacity
  *is* measured in, so the target is exact by construction:
  ``slo_rps x u`` req/s. The HPA reads it as a Pods metric (default name
  ``inference_requests_per_second``, which a Prometheus Adapter rule must
  expose); KEDA queries Prometheus directly:
  ``sum(rate(<counter>{namespace=..,pod=~"<deployment>-..."}[1m]))``.
* ``gpu`` -- GPU utilization per pod, when the report measured it at the SLO
  capacity (``utilization["slo_capacity"].gpu_utilization``, 0..1):
  ``100 x gpu_utilization x u`` percent, DCGM's unit (``DCGM_FI_DEV_GPU_UTIL``).
  An approximation: it assumes utilization scales linearly with load, which
  batching bends; use it where no request metric is exported.
* ``cpu`` -- CPU cores per pod, when the report measured the target's CPU at
  the SLO capacity (``target_cpu_cores``): ``cores x u`` as a Resource metric
  with an ``AverageValue`` target (a ``Utilization`` target would need the
  pod's CPU request, which the report doesn't know).

A metric the report did not measure is a :class:`ConfigError`, never a guess.

Replicas: ``minReplicas = 1 + plan.redundancy`` and ``maxReplicas =
plan.replicas`` when the report carries a capacity plan; without one
``--max-replicas`` is required. The target utilization defaults to the plan's,
so that the plan's replica count and the autoscaler's target agree.

Which reports: one whose verdict is INVALID (too few samples, a busy load
generator, ...) measured nothing to scale on, and is refused with one line
unless ``force``; a capacity that is only a lower bound (every step met the
SLOs: a replica may sustain more) is used, and said so in the manifests'
comments and on the console. Replica counts above what Kubernetes accepts
(int32), e.g. from a hand-edited ``plan.replicas``, are refused.

Everything here is pure (a typed report in, YAML text out) except
:func:`run_autoscale`, which reads the report with
:func:`~locust_ml.report.load.load_report` and writes the files atomically.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from locust_ml.errors import EXIT_CONFIG, ConfigError, LocustMLError

if TYPE_CHECKING:  # the CLI builds its parser without numpy; run_autoscale imports the rest
    from locust_ml.analysis.planning import Plan, UtilizationAt
    from locust_ml.report.model import RunReport

__all__ = [
    "DEFAULT_PROMETHEUS_URL",
    "DEFAULT_REQUESTS_COUNTER",
    "DEFAULT_TARGET_UTILIZATION",
    "MAX_REPLICAS",
    "METRICS",
    "ScalingTarget",
    "autoscaling_manifests",
    "hpa_manifest",
    "keda_manifest",
    "refusal",
    "run_autoscale",
    "scaling_target",
    "warnings_for",
]

#: ``metric`` choices: what the autoscaler watches.
METRICS = ("requests", "gpu", "cpu")
#: Fraction of the SLO capacity each replica is kept at, unless the plan says otherwise.
DEFAULT_TARGET_UTILIZATION = 0.7
#: Prometheus inside the cluster as kube-prometheus-stack names it.
DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
#: The request counter the KEDA query rates (the usual HTTP instrumentation name).
DEFAULT_REQUESTS_COUNTER = "http_requests_total"
#: Pods metric names the HPA reads, per ``metric`` (``cpu`` is a Resource metric).
DEFAULT_POD_METRICS = {"requests": "inference_requests_per_second", "gpu": "DCGM_FI_DEV_GPU_UTIL"}

#: The most replicas a HorizontalPodAutoscaler or ScaledObject accepts (an int32).
MAX_REPLICAS = 2**31 - 1

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_MANAGED_BY = {"app.kubernetes.io/managed-by": "locust-ml"}


@dataclass(frozen=True)
class ScalingTarget:
    """The numbers both manifests are built from, and where they came from."""

    metric: str  # one of METRICS
    unit: str  # "req/s", "% GPU", "CPU cores"
    at_capacity: float  # per replica, at the SLO capacity, in ``unit``
    target_utilization: float
    min_replicas: int
    max_replicas: int
    slo_rps: float

    @property
    def target(self) -> float:
        """Per-replica target: ``at_capacity x target_utilization``."""
        return self.at_capacity * self.target_utilization

    def describe(self) -> str:
        return (
            f"{self.metric}: {_decimal(self.at_capacity)} {self.unit} per replica at SLO capacity "
            f"x target utilization {self.target_utilization:g} = {_decimal(self.target)} "
            f"{self.unit}; replicas {self.min_replicas}..{self.max_replicas}"
        )


def _decimal(x: float) -> str:
    """A Kubernetes quantity / KEDA threshold: a plain decimal with at most 3 places."""
    text = f"{round(x, 3):.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _check_dns_subdomain(option: str, value: object) -> str:
    ok = (
        isinstance(value, str)
        and 0 < len(value) <= 253
        and all(_DNS_LABEL.match(part) for part in value.split("."))
    )
    if not ok:
        raise ConfigError(
            f"{option} {value!r}: expected a DNS-1123 name (lowercase letters, digits, '-' and "
            "'.', starting and ending with a letter or digit, at most 253 characters)"
        )
    return str(value)


def _check_dns_label(option: str, value: object) -> str:
    if not (isinstance(value, str) and len(value) <= 63 and _DNS_LABEL.match(value)):
        raise ConfigError(
            f"{option} {value!r}: expected a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def scaling_target(
    report: RunReport,
    *,
    metric: str = "requests",
    target_utilization: float | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> ScalingTarget:
    """What to scale on and to what value, from the report's capacity and plan."""
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r}: expected one of {', '.join(METRICS)}")
    slo_rps = None if report.capacity is None else report.capacity.slo_rps
    if slo_rps is None or slo_rps <= 0:
        raise ConfigError(
            "the report has no SLO capacity (capacity.slo_rps is missing or null): "
            "run a ramp with --ml-slo until a step fails its SLO, then autoscale from that report"
        )
    plan = report.plan
    u = target_utilization
    if u is None:
        u = (plan.target_utilization if plan is not None else 0.0) or DEFAULT_TARGET_UTILIZATION
    if not 0.0 < u <= 1.0:
        raise ConfigError(f"--target-utilization {u!r}: expected a fraction in (0, 1]")

    at_capacity, unit = _per_replica(metric, slo_rps, report.utilization.get("slo_capacity"))
    if float(_decimal(at_capacity * u)) <= 0:
        raise ConfigError(
            f"the per-replica target {at_capacity * u!r} {unit} rounds to 0; "
            "raise --target-utilization or use another --metric"
        )
    low, high = _replica_bounds(plan, min_replicas, max_replicas)
    return ScalingTarget(metric, unit, at_capacity, u, low, high, slo_rps)


def _per_replica(metric: str, slo_rps: float, at_slo: UtilizationAt | None) -> tuple[float, str]:
    """The metric's value per replica at the SLO capacity, and its unit."""
    if metric == "requests":
        return slo_rps, "req/s"
    key = "gpu_utilization" if metric == "gpu" else "target_cpu_cores"
    value = None if at_slo is None else getattr(at_slo, key)
    if value is None or value <= 0:
        what = "GPU utilization" if metric == "gpu" else "target CPU"
        raise ConfigError(
            f"--metric {metric}: the report has no {what} at SLO capacity "
            f"(capacity.utilization.slo_capacity.{key}); use --metric requests"
        )
    return (100.0 * value, "% GPU") if metric == "gpu" else (value, "CPU cores")


def _replica_bounds(
    plan: Plan | None, min_replicas: int | None, max_replicas: int | None
) -> tuple[int, int]:
    """``1 + plan.redundancy`` .. ``plan.replicas``, unless given."""
    redundancy = None if plan is None else plan.redundancy
    replicas = None if plan is None else plan.replicas
    if redundancy is not None and redundancy > MAX_REPLICAS:
        raise ConfigError(
            f"plan.redundancy in the report {redundancy:.3g}: more replicas than Kubernetes "
            f"accepts (at most {MAX_REPLICAS}); give --min-replicas N"
        )
    low = min_replicas if min_replicas is not None else 1 + (redundancy or 0)
    if max_replicas is not None:
        high = max_replicas
    elif replicas is not None:
        high = max(replicas, low)
    else:
        raise ConfigError(
            "the report has no capacity plan (plan is null), so the most replicas isn't known: "
            "give --max-replicas N (or run the test with --ml-target-rps)"
        )
    if low < 1 or high < low:
        raise ConfigError(f"--min-replicas {low} / --max-replicas {high}: expected 1 <= min <= max")
    if high > MAX_REPLICAS:
        source = "--max-replicas" if max_replicas is not None else "plan.replicas in the report"
        raise ConfigError(
            f"{source} {high:.3g}: more replicas than Kubernetes accepts (at most {MAX_REPLICAS}); "
            "give --max-replicas N"
        )
    return low, high


def _invalid_because(report: RunReport) -> str | None:
    """The first reason of an INVALID verdict (and how many more), or None if not INVALID."""
    if report.verdict.valid:
        return None
    reasons = report.verdict.reasons
    first = " ".join(reasons[0].split()) if reasons else "no reason given"
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return first + more


def refusal(report: RunReport) -> str | None:
    """Why the report's capacity must not be scaled on (INVALID verdict), or None."""
    because = _invalid_because(report)
    if because is None:
        return None
    return (
        f"the report's verdict is INVALID ({because}): its capacity was not measured well "
        "enough to scale on; rerun the test, or --force to use it anyway"
    )


def warnings_for(report: RunReport, *, forced: bool = False) -> list[str]:
    """What a reader of the manifests must know about the capacity they are built from."""
    out = []
    if report.capacity is not None and report.capacity.bound == "lower-bound":
        out.append(
            "the SLO capacity is a lower bound: every step of the run met the SLOs, so a "
            "replica may sustain more and this target scales out earlier than needed; "
            "rerun with a higher ramp max (--ml-shape ramp:max=N) to find the bound"
        )
    because = _invalid_because(report)
    if forced and because is not None:
        out.append(f"made with --force from a report whose verdict is INVALID ({because})")
    return out


def _pod_selector(namespace: str, deployment: str) -> str:
    # A Deployment's pods are named <deployment>-<replicaset hash>-<pod hash>;
    # PromQL regexes are anchored, so a longer sibling name doesn't match.
    name = deployment.replace(".", "\\\\.")
    return f'namespace="{namespace}",pod=~"{name}-[a-z0-9]+-[a-z0-9]+"'


def _default_query(
    target: ScalingTarget, namespace: str, deployment: str, counter: str, gpu_metric: str
) -> str:
    sel = _pod_selector(namespace, deployment)
    if target.metric == "requests":
        return f"sum(rate({counter}{{{sel}}}[1m]))"
    if target.metric == "gpu":
        return f"sum(avg by (pod) ({gpu_metric}{{{sel}}}))"
    return (
        f'sum(rate(container_cpu_usage_seconds_total{{{sel},container!="",container!="POD"}}[1m]))'
    )


def _metadata(name: str, namespace: str, target: ScalingTarget) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(_MANAGED_BY),
        "annotations": {
            "locust-ml/slo-capacity-rps": _decimal(target.slo_rps),
            "locust-ml/metric": target.metric,
            "locust-ml/target-per-replica": f"{_decimal(target.target)} {target.unit}",
            "locust-ml/target-utilization": f"{target.target_utilization:g}",
        },
    }


def hpa_manifest(
    target: ScalingTarget,
    *,
    name: str,
    namespace: str,
    deployment: str,
    metric_name: str | None = None,
) -> dict[str, Any]:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler on ``target`` (a dict for YAML)."""
    value = _decimal(target.target)
    if target.metric == "cpu":
        spec_metric: dict[str, Any] = {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": value}},
        }
    else:
        spec_metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": metric_name or DEFAULT_POD_METRICS[target.metric]},
                "target": {"type": "AverageValue", "averageValue": value},
            },
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(name, namespace, target),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": target.min_replicas,
            "maxReplicas": target.max_replicas,
            "metrics": [spec_metric],
        },
    }


def keda_manifest(
    target: ScalingTarget,
    *,
    name: str,
    namespace: str,
    deployment: str,
    prometheus_url: str,
    query: str,
) -> dict[str, Any]:
    """A KEDA ``ScaledObject`` with one ``prometheus`` trigger (a dict for YAML).

    KEDA's default ``AverageValue`` metric type divides the query's result by
    the replica count, so the query sums over the deployment's pods and the
    threshold is the per-replica target -- a string, as KEDA's metadata is.
    """
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(name, namespace, target),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicaCount": target.min_replicas,
            "maxReplicaCount": target.max_replicas,
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": prometheus_url,
                        "query": query,
                        "threshold": _decimal(target.target),
                    },
                }
            ],
        },
    }


def _dump(doc: Mapping[str, Any], header: str) -> str:
    yaml: Any = importlib.import_module("yaml")  # PyYAML ships no type hints
    body = yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=1000)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + str(body)


def autoscaling_manifests(
    report: RunReport,
    *,
    deployment: str,
    namespace: str = "default",
    name: str | None = None,
    target_utilization: float | None = None,
    metric: str = "requests",
    metric_name: str | None = None,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
    counter: str = DEFAULT_REQUESTS_COUNTER,
    query: str | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    force: bool = False,
) -> dict[str, str]:
    """File name -> YAML text: ``<name>-hpa.yaml`` and ``<name>-keda-scaledobject.yaml``.

    ``target_utilization`` None means the plan's, else
    :data:`DEFAULT_TARGET_UTILIZATION`. ``query`` replaces the default PromQL;
    it must return the deployment's total in the metric's unit (req/s for
    ``requests``). Raises :class:`ConfigError` for a report whose verdict is
    INVALID (unless ``force``), without an SLO capacity, an unmeasured
    metric, or a bad name or value. :func:`warnings_for` lines (a lower-bound
    capacity) go into the files' header comments.
    """
    problem = refusal(report)
    if problem is not None and not force:
        raise ConfigError(problem)
    deployment = _check_dns_subdomain("--deployment", deployment)
    namespace = _check_dns_label("--namespace", namespace)
    name = _check_dns_subdomain("--name", name if name is not None else deployment)
    for option, value in (("--counter", counter), ("--metric-name", metric_name)):
        if value is not None and not _PROM_NAME.match(value):
            raise ConfigError(f"{option} {value!r}: expected a Prometheus metric name")
    if metric_name is not None and metric == "cpu":
        raise ConfigError("--metric-name applies to --metric requests or gpu, not cpu")
    url = urlsplit(prometheus_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            f"--prometheus-url {prometheus_url!r}: expected an http(s) URL such as "
            f"{DEFAULT_PROMETHEUS_URL}"
        )
    if query is not None and not query.strip():
        raise ConfigError("--query is empty; expected a PromQL expression")

    target = scaling_target(
        report,
        metric=metric,
        target_utilization=target_utilization,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
    )
    if query is None:
        gpu_metric = metric_name or DEFAULT_POD_METRICS["gpu"]
        query = _default_query(target, namespace, deployment, counter, gpu_metric)
    header = (
        f"Generated by locust-ml autoscale for Deployment {namespace}/{deployment}.\n"
        f"{target.describe()}\n"
        "Apply this file or the other one (HPA / KEDA ScaledObject), not both: "
        "KEDA creates its own HPA."
    )
    for warning in warnings_for(report, forced=force):
        header += f"\nWARNING: {warning}"
    hpa = hpa_manifest(
        target, name=name, namespace=namespace, deployment=deployment, metric_name=metric_name
    )
    keda = keda_manifest(
        target,
        name=name,
        namespace=namespace,
        deployment=deployment,
        prometheus_url=prometheus_url,
        query=query,
    )
    return {
        f"{name}-hpa.yaml": _dump(hpa, header),
        f"{name}-keda-scaledobject.yaml": _dump(keda, header),
    }


# --------------------------------------------------------------------- CLI


def run_autoscale(args: argparse.Namespace) -> int:
    """Build both manifests, then write them atomically; 2 and nothing written on bad input."""
    from locust_ml.files import write_atomic
    from locust_ml.report.load import load_report

    try:
        report = load_report(args.report)
        files = autoscaling_manifests(
            report,
            deployment=args.deployment,
            namespace=args.namespace,
            name=args.name,
            target_utilization=args.target_utilization,
            metric=args.metric,
            metric_name=args.metric_name,
            prometheus_url=args.prometheus_url,
            counter=args.counter,
            query=args.query,
            min_replicas=args.min_replicas,
            max_replicas=args.max_replicas,
            force=bool(getattr(args, "force", False)),
        )
        out = Path(args.output_dir)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"-o {args.output_dir}: is a file; expected a directory")
    except LocustMLError as exc:
        print(f"locust-ml autoscale: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    target = scaling_target(
        report,
        metric=args.metric,
        target_utilization=args.target_utilization,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
    )
    print(target.describe())
    for warning in warnings_for(report, forced=bool(getattr(args, "force", False))):
        print(f"locust-ml autoscale: warning: {warning}", file=sys.stderr)
    for file_name, text in files.items():
        try:
            path = write_atomic(out / file_name, text)
        except OSError as exc:
            reason = exc.strerror or exc
            print(
                f"locust-ml autoscale: error: {out / file_name}: cannot write ({reason})",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        print(f"wrote {path}")
    return 0
