from __future__ import annotations

import math
import random

import numpy as np
import pytest

from locust_ml.errors import ConfigError
from locust_ml.payloads.lengths import LengthDistribution


def test_const_and_bare_number() -> None:
    rng = random.Random(1)
    for spec in ("const:128", "128"):
        d = LengthDistribution.parse(spec)
        assert {d.sample(rng) for _ in range(50)} == {128}


def test_uniform_is_inclusive_and_flat() -> None:
    d = LengthDistribution.parse("uniform:10,13")
    rng = random.Random(2)
    counts = np.bincount([d.sample(rng) for _ in range(8000)], minlength=14)[10:]
    assert counts.sum() == 8000
    assert all(abs(c - 2000) < 200 for c in counts)


def test_lognormal_median_and_bounds() -> None:
    d = LengthDistribution.parse("lognormal:median=400,sigma=0.6,min=50,max=2000")
    rng = random.Random(3)
    xs = np.array([d.sample(rng) for _ in range(20_000)])
    assert xs.min() >= 50
    assert xs.max() <= 2000
    assert np.median(xs) == pytest.approx(400, rel=0.03)
    assert d.mean() == pytest.approx(400 * math.exp(0.18))


def test_str_roundtrips() -> None:
    for spec in ("const:5", "uniform:1,9", "lognormal:median=40,sigma=0.5,min=2,max=99"):
        d = LengthDistribution.parse(spec)
        assert LengthDistribution.parse(str(d)) == d


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("gauss:1,2", "unknown distribution"),
        ("lognormal:median=10", "wrong parameters"),
        ("lognormal:median=10,sigma=x", "non-numeric"),
        ("uniform:9,1", "out of range"),
        ("lognormal:median=10,sigma=1,foo=2", "unknown parameter"),
        ("const:0", "out of range"),
    ],
)
def test_bad_specs_name_the_option(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        LengthDistribution.parse(spec, option="--ml-prompt-tokens")
    assert "--ml-prompt-tokens" in str(info.value)
