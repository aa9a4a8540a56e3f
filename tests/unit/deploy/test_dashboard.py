"""The provisioned Grafana dashboard: its references, its PromQL, and its metric names.

Every metric a panel queries must be one that the master's exporter or the
reference server really exposes: the names come from running our code (see
``deployfiles.exported_metrics``), not from a list kept beside the dashboard.
``promtool check rules`` parses every query, and the slow test evaluates
every query in a real Prometheus scraping real expositions, so a query that
is valid but can never return anything (a label that isn't there, a
mismatched division) fails too.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.deployfiles import (
    DASHBOARD,
    DOCKER,
    GRAFANA_VARIABLES,
    dashboard_exprs,
    promql_labels,
    promql_metric_names,
    substitute_grafana,
    walk_dicts,
)

DATASOURCES = DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
GRAFANA_BUILTIN = {"type": "grafana", "uid": "-- Grafana --"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


@pytest.fixture(scope="module")
def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return dashboard_exprs(dashboard)


def test_panels_have_unique_ids_and_fit_the_grid_without_overlapping(
    dashboard: dict[str, Any],
) -> None:
    panels = dashboard["panels"]
    assert dashboard["uid"]
    assert dashboard["title"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] >= 0, panel["title"]
        assert g["w"] > 0, panel["title"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for cell in itertools.product(
            range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])
        ):
            assert cell not in cells, f"{panel['title']!r} overlaps {cells[cell]!r}"
            cells[cell] = panel["title"]


def test_every_datasource_is_the_provisioned_prometheus(dashboard: dict[str, Any]) -> None:
    (provisioned,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    expected = {"type": "prometheus", "uid": provisioned["uid"]}
    refs = [node["datasource"] for node in walk_dicts(dashboard) if "datasource" in node]
    assert len(refs) > 20
    for ref in refs:
        assert ref in (expected, GRAFANA_BUILTIN), ref
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == expected, panel["title"]


def test_queries_use_only_the_dashboards_variables(
    dashboard: dict[str, Any], exprs: list[tuple[str, str]]
) -> None:
    defined = {"$" + v["name"] for v in dashboard["templating"]["list"]}
    assert defined <= set(GRAFANA_VARIABLES)
    for where, expr in exprs:
        used = set(re.findall(r"\$\w+", expr))
        assert used <= defined | {"$__rate_interval", "$__interval", "$__range"}, where
        assert "$" not in substitute_grafana(expr), where


def test_every_metric_and_label_is_one_our_code_exposes(
    exprs: list[tuple[str, str]], metrics: dict[str, set[str]]
) -> None:
    for where, expr in exprs:
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = names - set(metrics)
        assert not unknown, (
            f"{where}: {sorted(unknown)} is exposed by neither the exporter nor the server"
        )
        labels = set().union(*(metrics[n] for n in names))
        assert promql_labels(expr) <= labels, f"{where}: {promql_labels(expr) - labels}"


def test_the_panels_the_stack_promises(exprs: list[tuple[str, str]]) -> None:
    """Latency percentiles, throughput, users and target rate, step, GPU, errors by class."""
    text = "\n".join(expr for _, expr in exprs)
    for needle in (
        "histogram_quantile(0.99, sum by (le) (rate(locust_ml_request_duration_seconds_bucket",
        "histogram_quantile(0.5,",
        "sum by (endpoint) (rate(locust_ml_requests_total",
        "locust_ml_users",
        "locust_ml_target_rps",
        "locust_ml_step",
        "locust_ml_telemetry_gpu_utilization_ratio",
        "locust_ml_telemetry_gpu_memory_used_bytes",
        'sum by (status) (rate(locust_ml_requests_total{endpoint=~"$endpoint",status!="ok"}',
    ):
        assert needle in text, needle


def rules_file(exprs: list[tuple[str, str]], path: Path) -> Path:
    rules = [
        {"record": f"locust_ml_dashboard:query_{i}", "expr": substitute_grafana(expr)}
        for i, (_, expr) in enumerate(exprs)
    ]
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return path


def test_promtool_parses_every_query(
    exprs: list[tuple[str, str]], promtool: str, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [promtool, "check", "rules", str(rules_file(exprs, tmp_path / "rules.yml"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout


@pytest.mark.parametrize(
    ("expr", "names", "labels"),
    [
        ("sum(rate(a_total[30s]))", {"a_total"}, set()),
        (
            'sum by (x, le) (rate(b_bucket{y=~"$endpoint",z!="ok"}[$window]))',
            {"b_bucket"},
            {"x", "le", "y", "z"},
        ),
        ("a / ignoring (s) group_left sum(b) or vector(0)", {"a", "b"}, {"s"}),
        ("histogram_quantile(0.99, c) > 1e3", {"c"}, set()),
        ('d{e="sum(f)"} and on (g) h', {"d", "h"}, {"e", "g"}),
    ],
)
def test_the_promql_name_extractor(expr: str, names: set[str], labels: set[str]) -> None:
    assert promql_metric_names(expr) == names
    assert promql_labels(expr) == labels


# -- every query, evaluated by a real Prometheus -----------------------------------


class _Run:
    """Exporter snapshots whose counters grow at each scrape, as a running test's do."""

    def __init__(self) -> None:
        self.scrapes = 0

    def snapshot(self) -> Any:
        from locust_ml.analysis.histogram import LatencyHistogram
        from locust_ml.telemetry.exporter import (
            EndpointLatency,
            ExporterSnapshot,
            RequestCount,
            hdr_to_buckets,
        )
        from locust_ml.telemetry.model import METRICS, TelemetrySample
        from locust_ml.telemetry.sampler import SourceStatus

        self.scrapes += 1
        n = self.scrapes
        hist = LatencyHistogram()
        for i in range(20 * n):
            hist.record_ms(20.0 + (i * 37) % 400)
        telemetry = [
            TelemetrySample.of(
                float(n), "nvml", sample, float(n), **dict.fromkeys(spec.labels, "0")
            )
            for spec in METRICS.values()
            for sample in spec.sample_names
        ]
        endpoint = "/v1/chat/completions"
        return ExporterSnapshot(
            requests=(
                RequestCount(endpoint, "POST", "ok", 18 * n),
                RequestCount(endpoint, "POST", "shed", 2 * n),
            ),
            latencies=(EndpointLatency(endpoint, "POST", hdr_to_buckets(hist)),),
            users=4,
            target_rps=20.0,
            step_id=1 + n // 3,
            step_mode="open",
            telemetry=tuple(telemetry),
            telemetry_status=(SourceStatus("nvml", state="ok"),),
        )


def _server_app() -> Any:
    """A reference server's metrics app, with inference answers counted and batches run."""
    from prometheus_client import CollectorRegistry, make_wsgi_app

    from locust_ml.server.app import create_app
    from locust_ml.server.config import ServerConfig

    registry = CollectorRegistry()
    app = create_app(ServerConfig(backend="simulated"), registry=registry)
    metrics = app.state.server.metrics
    for _ in range(5):
        metrics.requests.labels("/v1/chat/completions", "200").inc()
        metrics.batch_size.observe(4)
    return make_wsgi_app(registry), metrics


@pytest.fixture
def live_prometheus(tmp_path: Path) -> Iterator[Any]:
    from prometheus_client import make_wsgi_app

    from locust_ml.telemetry.exporter import exporter_registry
    from tests.integration.prometheus import find_prometheus, run_prometheus, serve_wsgi

    if find_prometheus() is None:
        pytest.skip("prometheus not found: apt-get install -y prometheus")
    run = _Run()
    server_app, server_metrics = _server_app()
    with (
        serve_wsgi(make_wsgi_app(exporter_registry(run.snapshot))) as exporter_url,
        serve_wsgi(server_app) as server_url,
        run_prometheus([exporter_url[7:], server_url[7:]], tmp_path) as prometheus,
    ):
        # Two scrapes of each target with counters grown between them: rate() works.
        prometheus.wait_for("rate(locust_ml_requests_total[30s]) > 0", timeout=30)
        server_metrics.requests.labels("/v1/chat/completions", "200").inc(5)
        server_metrics.batch_size.observe(8)
        prometheus.wait_for("rate(locust_ml_server_requests_total[30s]) > 0", timeout=30)
        prometheus.wait_for("changes(locust_ml_step[1m]) > 0", timeout=30)
        yield prometheus


@pytest.mark.slow
def test_every_query_returns_data_in_a_real_prometheus(
    live_prometheus: Any, exprs: list[tuple[str, str]]
) -> None:
    window = {"$window": "1m"}
    for where, expr in exprs:
        query = expr
        for name, value in window.items():
            query = query.replace(name, value)
        if where.startswith("annotation"):
            query = query.replace("[2s]", "[1m]")  # the step changed once, some seconds ago
        result = live_prometheus.query(substitute_grafana(query))
        assert result, f"{where}: no data for {query!r}"
