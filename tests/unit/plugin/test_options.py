from __future__ import annotations

import argparse

import pytest
from locust.argument_parser import get_parser, ui_extra_args_dict

import locust_ml  # noqa: F401 - registers the plugin
from locust_ml.errors import ConfigError
from locust_ml.plugin.options import DEFAULT_PROMPT_TOKENS, MLOptions, add_options, read_options


def test_options_are_registered_on_locusts_parser() -> None:
    ns = get_parser().parse_args(
        [
            "-f",
            "x.py",
            "--ml-prompt-tokens",
            "const:5",
            "--ml-ramp-max",
            "8",
            "--ml-step-time",
            "1m",
            "--ml-percentiles",
            "99,50",
        ]
    )
    opts = read_options(ns)
    assert opts.prompt_tokens.kind == "const"
    assert opts.shape.max == 8
    assert opts.shape.step_seconds == 60.0
    assert opts.percentiles == (50.0, 99.0)


def test_registration_is_idempotent() -> None:
    parser = get_parser()
    add_options(parser)  # the listener already ran once
    add_options(parser)
    assert parser.parse_args(["--ml-seed", "3"]).ml_seed == 3


def test_web_ui_shows_load_options_but_not_process_ones() -> None:
    extra = ui_extra_args_dict(["-f", "x.py"])
    assert {"ml_prompt_tokens", "ml_output_tokens", "ml_ramp_max", "ml_step_time"} <= set(extra)
    assert not {"ml_report_dir", "ml_server_args", "ml_server_backend"} & set(extra)


def test_defaults_without_parsed_options() -> None:
    assert read_options(None) == MLOptions()
    assert str(read_options(None).prompt_tokens) in DEFAULT_PROMPT_TOKENS


def test_web_ui_strings_are_parsed() -> None:
    # The web UI writes form values back as strings.
    ns = argparse.Namespace(ml_ramp_start="2", ml_ramp_factor="1.5", ml_spawn_rate="4", ml_seed="9")
    opts = read_options(ns)
    assert (opts.shape.start, opts.shape.factor, opts.shape.spawn_rate, opts.seed) == (
        2,
        1.5,
        4.0,
        9,
    )


@pytest.mark.parametrize(
    ("attrs", "option"),
    [
        ({"ml_prompt_tokens": "zipf:1"}, "--ml-prompt-tokens"),
        ({"ml_output_tokens": "uniform:5"}, "--ml-output-tokens"),
        ({"ml_ramp_max": "lots"}, "--ml-ramp-max"),
        ({"ml_ramp_start": "-1"}, "--ml-ramp-start"),
        ({"ml_step_time": "soon"}, "--ml-step-time"),
        ({"ml_percentiles": "99,200"}, "--ml-percentiles"),
        ({"ml_seed": "x"}, "--ml-seed"),
    ],
)
def test_bad_values_name_their_option(attrs: dict[str, str], option: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_options(argparse.Namespace(**attrs))
    assert option in str(info.value)
