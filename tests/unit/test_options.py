"""The option table: one declaration per option, parsed, listed and documented from it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from locust_ml.analysis.slo import parse_slos
from locust_ml.errors import ConfigError
from locust_ml.options import (
    DEFAULT_PROMPT_TOKENS,
    GROUPS,
    MLOptions,
    OpenLoop,
    add_group,
    flags,
    format_listing,
    markdown_table,
    read_options,
)

ROOT = Path(__file__).resolve().parents[2]


def _flags() -> list[str]:
    return [meta.flag for g in GROUPS for _n, meta, _d in flags(g)]


def test_defaults_without_parsed_options() -> None:
    opts = read_options(None)
    assert opts == MLOptions()
    assert str(opts.prompt_tokens) in DEFAULT_PROMPT_TOKENS
    assert opts.load.open_loop == OpenLoop(senders=None, inflight=1000, lateness=10.0)
    assert opts.telemetry.interval == 1.0
    assert opts.server.timeout == 60.0


def test_loosely_typed_values_are_parsed() -> None:
    # The web UI writes form values back as strings; the command line gives lists.
    ns = argparse.Namespace(
        ml_shape="ramp:start=2,factor=1.5,spawn_rate=4",
        ml_seed="9",
        ml_open_loop="senders=16,lateness=5s",
        ml_exporter="0.0.0.0:9646",
        ml_stream="on",
        ml_price_per_hour="1.5",
    )
    opts = read_options(ns)
    assert dict(opts.load.shape.given) == {"start": 2.0, "factor": 1.5, "spawn_rate": 4.0}  # type: ignore[union-attr]
    assert opts.seed == 9
    assert opts.load.open_loop == OpenLoop(senders=16, inflight=1000, lateness=5.0)
    assert opts.telemetry.exporter == ("0.0.0.0", 9646)
    assert read_options(argparse.Namespace(ml_exporter="0")).telemetry.exporter == ("127.0.0.1", 0)
    assert opts.users.stream is True
    assert opts.decisions.price_per_hour == 1.5


@pytest.mark.parametrize(
    ("attrs", "option"),
    [
        ({"ml_prompt_tokens": "zipf:1"}, "--ml-prompt-tokens"),
        ({"ml_output_tokens": "uniform:5"}, "--ml-output-tokens"),
        ({"ml_shape": "ramp:max=lots"}, "--ml-shape"),
        ({"ml_percentiles": "99,200"}, "--ml-percentiles"),
        ({"ml_seed": "x"}, "--ml-seed"),
        ({"ml_open_loop": "senders=0"}, "--ml-open-loop"),
        ({"ml_open_loop": "lateness=0"}, "--ml-open-loop"),
        ({"ml_exporter": "host:99999"}, "--ml-exporter"),
        ({"ml_protocol": "smoke-signals"}, "--ml-protocol"),
        ({"ml_endpoint": "v1/chat"}, "--ml-endpoint"),
        ({"ml_target_utilization": "1.5"}, "--ml-target-utilization"),
        ({"ml_redundancy": "1.5"}, "--ml-redundancy"),
        ({"ml_stability_tolerance": "2"}, "--ml-stability-tolerance"),
        ({"ml_telemetry_interval": "-1s"}, "--ml-telemetry-interval"),
    ],
)
def test_bad_values_are_one_line_naming_their_option(attrs: dict[str, str], option: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_options(argparse.Namespace(**attrs))
    assert str(info.value).startswith(option + ": ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ([], ()),
        ("", ()),
        ("p99<500ms", ("p99<500ms",)),
        ("p99<500ms, errors<1%", ("p99<500ms", "errors<1%")),
        ("p99<500ms; errors<1%,", ("p99<500ms", "errors<1%")),
        (["p99<500ms", "errors<1%,ttft_p99<2s"], ("p99<500ms", "errors<1%", "ttft_p99<2s")),
        ([""], ()),
    ],
)
def test_slos_come_from_the_command_line_list_or_the_forms_string(
    value: object, expected: tuple[str, ...]
) -> None:
    opts = read_options(argparse.Namespace(ml_slo=value))
    assert tuple(map(str, opts.slos)) == tuple(map(str, parse_slos(list(expected))))


def test_stability_tolerance_is_an_option() -> None:
    # Issue 15: documented and read, never registered, so Locust rejected it.
    parser = argparse.ArgumentParser()
    for group in GROUPS:
        add_group(parser, group)
    ns = parser.parse_args(["--ml-stability-tolerance", "0.1"])
    assert read_options(ns).decisions.stability_tolerance == 0.1


def test_each_option_once_with_its_environment_variable() -> None:
    names = _flags()
    assert len(names) == len(set(names))
    assert all(n.startswith("--ml-") for n in names)
    for g in GROUPS:
        for _name, meta, _default in flags(g):
            assert meta.env == "LOCUST_" + meta.flag[2:].upper().replace("-", "_")
            assert meta.help.strip()
            assert "%" not in meta.help.replace("1%", "").replace("%,", "")
            assert meta.form is None or len(meta.form) <= 80


def test_about_twenty_options_to_know() -> None:
    core = [meta.flag for g in GROUPS for _n, meta, _d in flags(g) if meta.core]
    assert 15 <= len(core) <= 22, core
    assert len(_flags()) < 40  # was 56, 18 of them for one shape kind each


def test_the_listing_has_every_option_kind_key_and_preset() -> None:
    text = format_listing()
    for flag in _flags():
        assert flag in text
    for word in ("ramp", "soak", "spike", "stages", "capacity-search", "soak-1h", "max_time="):
        assert word in text
    assert "%(" not in text


def test_docs_options_page_is_the_generated_table() -> None:
    doc = (ROOT / "docs" / "options.md").read_text()
    begin, end = "<!-- generated: locust-ml options --markdown -->\n\n", "<!-- end of generated -->"
    generated = doc[doc.index(begin) + len(begin) : doc.index(end)]
    assert generated == markdown_table(), "regenerate: locust-ml options --markdown"
    named = set(re.findall(r"--ml-[a-z-]+", doc))
    assert named <= set(_flags()), sorted(named - set(_flags()))
