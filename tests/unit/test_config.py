from __future__ import annotations

import pytest

from locust_ml.config import parse_duration, parse_percentiles
from locust_ml.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("250ms", 0.25),
        ("2.5s", 2.5),
        (7, 7.0),
        (" 1M ", 60.0),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "s10", "1m 30s", "-5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--ml-telemetry-interval"):
        parse_duration(text, option="--ml-telemetry-interval")


def test_parse_percentiles() -> None:
    assert parse_percentiles("99,50, 99.9,50") == (50.0, 99.0, 99.9)
    assert parse_percentiles([90, 10]) == (10.0, 90.0)


@pytest.mark.parametrize("text", ["", "50,abc", "0", "101"])
def test_parse_percentiles_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--ml-percentiles"):
        parse_percentiles(text, option="--ml-percentiles")


@pytest.mark.parametrize("text", ["inf", "nan", "1e999", "-inf"])
def test_parse_duration_rejects_non_finite(text: str) -> None:
    # "1e999" is float("inf"): it used to pass as an endless duration.
    with pytest.raises(
        ConfigError, match=r"--ml-telemetry-interval: '.*' is not a finite duration"
    ):
        parse_duration(text, option="--ml-telemetry-interval")
