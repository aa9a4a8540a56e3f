"""Sampling a profile: determinism, types, single draws, replay data."""

from __future__ import annotations

import numpy as np
import pytest

from locust_ml.errors import ConfigError
from locust_ml.traces import Profile


@pytest.fixture(scope="module")
def conv() -> Profile:
    return Profile.load("azure_conv")


def test_same_seed_same_draws_other_seed_other_draws(conv: Profile) -> None:
    a = conv.sampler(11).sample(1000)
    b = conv.sampler(11).sample(1000)
    c = conv.sampler(12).sample(1000)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["ContextTokens"], c["ContextTokens"])


def test_draws_are_integers_within_bounds(conv: Profile) -> None:
    drawn = conv.sampler(1).sample(20_000)
    for column in conv.columns:
        values = drawn[column.name]
        assert values.dtype == np.int64
        assert values.min() >= column.minimum
        assert values.max() <= column.maximum


def test_draw_serves_single_rows_from_the_same_stream(conv: Profile) -> None:
    batch = conv.sampler(3).sample(1024)
    single = conv.sampler(3)
    rows = [single.draw() for _ in range(1024)]
    assert [r["ContextTokens"] for r in rows] == batch["ContextTokens"].tolist()
    assert all(type(r["GeneratedTokens"]) is int for r in rows)
    assert set(single.draw()) == {"ContextTokens", "GeneratedTokens"}  # next batch


def test_zero_and_bad_counts(conv: Profile) -> None:
    assert conv.sampler(0).sample(0)["ContextTokens"].size == 0
    with pytest.raises(ConfigError):
        conv.sampler(0).sample(-1)


def test_constant_columns_are_filled() -> None:
    drawn = Profile.load("librispeech_durations").sampler(0).sample(100)
    assert set(drawn["sample_rate"].tolist()) == {16000}
    assert drawn["duration_s"].dtype == np.float64


def test_arrival_replay(conv: Profile) -> None:
    sampler = conv.sampler(0)
    gaps = sampler.arrival_gaps()
    times = sampler.timestamps()
    assert gaps.size == 19_365
    assert times.size == 19_366
    assert times[0] == 0.0
    assert np.all(gaps >= 0)
    assert times[-1] == pytest.approx(3501.72, abs=0.01)  # 18:15:46.68 -> 19:14:08.40
    assert np.allclose(np.diff(times), gaps)


def test_profiles_without_timestamps_say_how_to_get_them() -> None:
    with pytest.raises(ConfigError, match="--timestamp"):
        Profile.load("coco_image_sizes").sampler(0).arrival_gaps()
