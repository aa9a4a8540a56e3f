"""Prometheus metric families named after the canonical telemetry metrics.

Shared by the master's exporter (``locust_ml_telemetry_<name>{source,...}``)
and the gpu-agent (``locust_ml_<name>``): each canonical metric keeps its
kind, so gauges stay gauges, counters stay counters (``_total``), and
``summary`` metrics become Prometheus summaries with ``_sum`` and ``_count``
and no quantiles.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

from locust_ml.telemetry.model import MetricSpec, TelemetrySample, metric_spec

__all__ = ["telemetry_families"]


def _family(spec: MetricSpec, prefix: str, with_source: bool) -> Metric:
    name = prefix + spec.name
    help_ = f"{spec.help} Unit: {spec.unit}."
    if with_source:
        help_ += " Label source: the telemetry source it was read from."
    if spec.kind == "counter":
        return Metric(name.removesuffix("_total"), help_, "counter")
    return Metric(name, help_, spec.kind)


def telemetry_families(
    samples: Iterable[TelemetrySample], prefix: str, *, with_source: bool = True
) -> list[Metric]:
    """Prometheus families named ``prefix + canonical name`` for telemetry samples.

    The last sample of a series wins; unknown metric names are skipped; a
    summary series is exposed only when both its ``_sum`` and ``_count`` are
    there. ``with_source`` adds the sample's source as label ``source``
    (which replaces a label of that name).
    """
    latest: dict[tuple[str, str, tuple[tuple[str, str], ...]], TelemetrySample] = {}
    for sample in samples:
        latest[sample.series] = sample
    families: dict[str, Metric] = {}
    summary_parts: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, float]] = {}
    for sample in latest.values():
        try:
            spec = metric_spec(sample.metric)
        except KeyError:
            continue  # a name from a newer source; nothing to call it yet
        labels = dict(sample.labels)
        if with_source:
            labels["source"] = sample.source
        family = families.get(spec.name)
        if family is None:
            family = families[spec.name] = _family(spec, prefix, with_source)
        if spec.kind == "summary":
            part = sample.metric.removeprefix(spec.name)  # "_sum" or "_count"
            key = (spec.name, tuple(sorted(labels.items())))
            summary_parts.setdefault(key, {})[part] = sample.value
        else:
            family.add_sample(prefix + spec.name, labels, sample.value)
    for (name, label_items), parts in summary_parts.items():
        if "_sum" in parts and "_count" in parts:  # half a summary means nothing
            family = families[name]
            for part in ("_count", "_sum"):
                family.add_sample(family.name + part, dict(label_items), parts[part])
    return [f for f in families.values() if f.samples]
