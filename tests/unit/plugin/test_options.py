from __future__ import annotations

import argparse

import pytest
from locust.argument_parser import get_parser, ui_extra_args_dict

import locust_ml  # noqa: F401 - registers the plugin
from locust_ml.analysis.slo import parse_slos
from locust_ml.errors import ConfigError
from locust_ml.plugin.options import (
    DEFAULT_PROMPT_TOKENS,
    MLOptions,
    add_options,
    format_option_groups,
    option_groups,
    read_options,
    web_form,
)


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
    assert {"ml_slo", "ml_shape", "ml_ramp_max", "ml_step_time", "ml_model"} <= set(extra)
    assert not {"ml_report_dir", "ml_server_args", "ml_server_backend"} & set(extra)
    # Kept to what a web user changes between runs; the rest keeps its command-line value.
    assert not {"ml_prompt_tokens", "ml_seed", "ml_percentiles", "ml_search_start"} & set(extra)


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


# ------------------------------------------------------ the web form and listing


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
    assert tuple(str(s) for s in opts.shape.slos) == tuple(
        str(s) for s in parse_slos(list(expected))
    )


def test_slo_default_is_not_a_list() -> None:
    # Locust's form parses a field whose default is an empty list as a list of ints.
    assert get_parser().parse_args(["-f", "x.py"]).ml_slo is None


def test_form_labels_are_short_plain_text() -> None:
    extra = ui_extra_args_dict(["-f", "x.py"])
    form = web_form(extra)
    ours = {k: v for k, v in form.items() if k.startswith("ml_")}
    assert ours
    for key, spec in ours.items():
        label = spec["help_text"]
        assert "%" not in label.replace("1%", ""), (key, label)
        assert len(label) <= 60, (key, label)
    assert form["ml_slo"]["help_text"] == "SLOs, comma-separated: p99<500ms, errors<1%"
    # Locust's own fields, and other plugins', are left as they are.
    assert {k: v for k, v in form.items() if not k.startswith("ml_")} == {
        k: v for k, v in extra.items() if not k.startswith("ml_")
    }


def test_form_shows_command_line_slos_as_one_string_and_the_locustfiles_shape() -> None:
    extra = ui_extra_args_dict(["-f", "x.py", "--ml-slo", "p99<1s", "--ml-slo", "errors<1%"])
    form = web_form(extra, shape_kind="soak")
    assert form["ml_slo"]["default_value"] == "p99<1s, errors<1%"
    assert form["ml_shape"]["default_value"] == "soak"
    assert web_form(extra, shape_kind=None)["ml_shape"]["default_value"] is None
    given = web_form(ui_extra_args_dict(["-f", "x.py", "--ml-shape", "spike"]), shape_kind="soak")
    assert given["ml_shape"]["default_value"] == "spike"


def test_every_option_is_listed_grouped_with_its_default() -> None:
    groups = option_groups()
    titles = [g.title for g in groups]
    assert titles[:2] == ["locust-ml", "locust-ml load shape"]
    flags = [o.flag for g in groups for o in g.options]
    parser = get_parser()
    registered = [s for s in parser._option_string_actions if s.startswith("--ml-")]
    assert sorted(flags) == sorted(registered)
    text = format_option_groups(groups)
    assert "%(" not in text
    assert "%%" not in text
    assert "  --ml-window TIME\n" in text
    assert "Default: 1s in a capacity search" in text
    assert "default: unset; env: LOCUST_ML_WARMUP" in text
    assert "--ml-slo EXPR  [web form]" in text
    assert "errors<1%," in text


def test_docs_options_page_names_every_option_and_no_other() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "options.md").read_text()
    flags = {o.flag for g in option_groups() for o in g.options}
    named = set(re.findall(r"--ml-[a-z-]+", doc))
    assert sorted(flags - named) == []
    assert sorted(named - flags) == []
    assert "locust-ml options" in doc


def test_soak_ramp_down_and_spike_baseline_time_are_read() -> None:
    ns = argparse.Namespace(ml_soak_ramp_down="5s", ml_spike_baseline_time="15s")
    shape = read_options(ns).shape
    assert (shape.soak_ramp_down_s, shape.spike_baseline_s) == (5.0, 15.0)
    assert read_options(argparse.Namespace(ml_soak_ramp_down="0")).shape.soak_ramp_down_s == 0.0
    with pytest.raises(ConfigError, match="--ml-spike-baseline-time"):
        read_options(argparse.Namespace(ml_spike_baseline_time="later"))


@pytest.mark.parametrize(
    "option",
    [
        "ml_step_time",
        "ml_soak_time",
        "ml_spike_time",
        "ml_spike_recovery",
        "ml_spike_baseline_time",
        "ml_search_max_time",
        "ml_search_step_time",
        "ml_max_lateness",
    ],
)
def test_a_zero_duration_is_an_error_not_the_default(option: str) -> None:
    # Issue 13: --ml-step-time 0 silently became the shape's 20 s ("0 or default").
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ConfigError, match=f"^{flag}: expected a duration > 0 s .*got '0'"):
        read_options(argparse.Namespace(**{option: "0"}))
