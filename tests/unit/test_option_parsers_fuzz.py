"""Fuzzing the option languages: any text is a value or one ``ConfigError`` line.

Every ``--ml-*`` value and every file a user hands over is parsed by one of
these functions (issue 13, item 6: no input ends in a traceback). For any
input - random text, near-misses built from the language's own words,
numbers at the edges (``1e999``, ``nan``, ``-0``), control characters - each
either returns a value or raises :class:`~locust_ml.errors.ConfigError`
whose message is one non-empty line naming the option. Any other exception
fails the test.

Derandomized and bounded (``max_examples``, a deadline): the file runs in a
few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locust_ml.analysis.slo import parse_slo, parse_slos
from locust_ml.arrivals import parse_arrival
from locust_ml.config import parse_duration, parse_percentiles
from locust_ml.errors import ConfigError, LocustMLError
from locust_ml.options import LoadOptions, flags
from locust_ml.payloads.lengths import LengthDistribution
from locust_ml.shapes import parse_shape, parse_stages
from locust_ml.telemetry.prometheus_scrape import parse_scrape_spec

FUZZ = settings(
    max_examples=400,
    deadline=timedelta(seconds=1),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NUMBERS = st.sampled_from(
    ["0", "-0", "1", "-1", "0.5", "1e999", "-1e999", "nan", "inf", "1e-320", "99.9", "100", "1_0"]
)
UNITS = st.sampled_from(["", "ms", "s", "m", "h", "%", "x", "rps", " "])
PUNCT = st.sampled_from(list(":=,;<>()[]{}\"' \t\n\r\x00|/\\@?&#.-+*"))


def language(words: list[str]) -> st.SearchStrategy[str]:
    """Text made of a language's own words, numbers, units and punctuation - and any text."""
    token = st.sampled_from(words) | NUMBERS | UNITS | PUNCT | st.text(max_size=6)
    return st.lists(token, max_size=10).map("".join) | st.text(max_size=60)


def _check(parse: Callable[[str], Any], text: str, option: str) -> None:
    try:
        parse(text)
    except ConfigError as exc:
        message = str(exc)
        assert message.strip(), repr(text)
        assert "\n" not in message, (text, message)
        assert "\r" not in message, (text, message)
        assert option in message, (text, message)


PARSERS: list[tuple[str, Callable[[str], Any], list[str], str]] = [
    (
        "slo",
        lambda t: parse_slo(t, option="--ml-slo"),
        ["p", "p99", "p99.9", "errors", "ttft_p99", "itl_p95", "tokens", "<", "<=", ">", "ms", "%"],
        "--ml-slo",
    ),
    (
        "slos",
        lambda t: parse_slos(t, option="--ml-slo"),
        ["p99<500ms", ";", "errors<1%", "ttft_p99<300ms", "p50"],
        "--ml-slo",
    ),
    (
        "arrival",
        lambda t: parse_arrival(t, option="--ml-arrival"),
        [
            *("closed", "constant", "poisson", "gamma", "trace", ":", "cv=", "path="),
            *("column=", "loop=", "time_scale=", "true", "false"),
        ],
        "--ml-arrival",
    ),
    (
        "duration",
        lambda t: parse_duration(t, option="--ml-telemetry-interval"),
        ["1", "30", "1m30s", "250ms", "h", "m", "s", "ms", "."],
        "--ml-telemetry-interval",
    ),
    (
        "percentiles",
        lambda t: parse_percentiles(t, option="--ml-percentiles"),
        ["50", "99", "99.9", "100", "0", ",", " "],
        "--ml-percentiles",
    ),
    (
        "lengths",
        lambda t: LengthDistribution.parse(t, option="--ml-prompt-tokens"),
        ["const", "uniform", "lognormal", ":", "median=", "sigma=", "min=", "max=", ","],
        "--ml-prompt-tokens",
    ),
    (
        "shape",
        lambda t: parse_shape(t, option="--ml-shape"),
        [
            *("ramp", "soak", "spike", "stages", "capacity-search", "soak-1h", ":", "=", ","),
            *("start", "add", "factor", "max", "step", "load", "hold", "ramp", "down", "base"),
            *("base_time", "spike", "recovery", "file", "precision", "max_time", "max_step"),
            *("warmup", "window", "spawn_rate", "30s", "0", "-"),
        ],
        "--ml-shape",
    ),
    (
        "open-loop",
        lambda t: next(m for _n, m, _d in flags(LoadOptions) if m.flag == "--ml-open-loop").parse(
            t, "--ml-open-loop"
        ),
        ["senders", "inflight", "lateness", "=", ",", "10s", "8", "0"],
        "--ml-open-loop",
    ),
    (
        "scrape",
        # The scrape spec names no option itself; the glue prefixes none either, so its
        # messages must say "scrape target" (what test_bad_options checks on the CLI).
        parse_scrape_spec,
        [
            *("dcgm", "triton", "vllm", "locust-ml", "gpu-agent", "=", "http://", "https://"),
            *("127.0.0.1", ":9400", "/metrics", "ftp://", "localhost"),
        ],
        "scrape target",
    ),
]


@pytest.mark.parametrize(
    ("parse", "words", "option"), [p[1:] for p in PARSERS], ids=[p[0] for p in PARSERS]
)
def test_option_parsers_return_a_value_or_one_config_error_line(
    parse: Callable[[str], Any], words: list[str], option: str
) -> None:
    @FUZZ
    @given(text=language(words))
    def check(text: str) -> None:
        _check(parse, text, option)

    check()


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats()
    | st.sampled_from(["10s", "1m", "x", "", "-5", "1e999", "nan"])
    | st.text(max_size=10)
)
STAGE_KEYS = ["duration", "users", "rate", "rps", "spawn_rate", "label", "warmup", "bogus"]
STAGE = st.dictionaries(st.sampled_from(STAGE_KEYS) | st.text(max_size=5), SCALARS, max_size=5)
DOCUMENT = st.one_of(
    st.lists(STAGE | SCALARS, max_size=4),
    st.fixed_dictionaries(
        {"stages": st.lists(STAGE, max_size=4) | SCALARS},
        optional={"spawn_rate": SCALARS, "extra": SCALARS},
    ),
    SCALARS,
)


def _json_text(doc: Any) -> str:
    return json.dumps(doc, allow_nan=True)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_stages_files_parse_or_raise_one_config_error_line(fmt: str) -> None:
    """Documents of stages (JSON, and YAML - JSON is YAML too), plus raw text."""

    @FUZZ
    @given(text=DOCUMENT.map(_json_text) | st.text(max_size=80) | language([":", "-", "{", "}"]))
    def check(text: str) -> None:
        error: LocustMLError | None = None
        try:
            parse_stages(text, source="s." + fmt, fmt=fmt)
        except LocustMLError as exc:
            error = exc
        if error is not None:
            assert isinstance(error, ConfigError), repr(error)
            assert str(error).startswith("s." + fmt), str(error)
            assert "\n" not in str(error), (text, str(error))

    check()


@pytest.mark.parametrize("spec", ["ftp://[", "http://[", "http://h:99999/metrics", "http://h:x/m"])
def test_scrape_specs_found_by_fuzzing_are_config_errors(spec: str) -> None:
    # urlsplit raised ValueError ("Invalid IPv6 URL", a port out of range) past the check.
    with pytest.raises(ConfigError, match="scrape target"):
        parse_scrape_spec(spec)
