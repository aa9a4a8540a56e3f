"""Every bundled profile against the trace it was fitted on (``shared/traces``).

The acceptance figures of the issue: for every bundled profile, draws vs the
source column have a two-sample KS statistic <= 0.05; drawn input/output token
pairs keep the trace's Spearman correlation within 0.05; width/height (and
bytes) dependence is kept for images. Seeded, 200,000 draws per profile.

The traces live outside the package, in ``shared/traces`` next to the
repository (or where ``LOCUST_ML_TRACES`` points); without them the
comparisons are skipped, and the profiles' own stored checks are still tested.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from locust_ml.traces import Profile, bundled_profiles, read_trace

ROOT = Path(__file__).resolve().parents[3]
_CANDIDATES = [
    Path(os.environ["LOCUST_ML_TRACES"]) if os.environ.get("LOCUST_ML_TRACES") else None,
    ROOT / "data" / "traces",
    ROOT / "shared" / "traces",
    ROOT.parent / "shared" / "traces",
]
TRACES = next((p for p in _CANDIDATES if p is not None and p.is_dir()), None)
needs_traces = pytest.mark.skipif(TRACES is None, reason="shared/traces not found")

DRAWS = 200_000
BUNDLED = {
    "azure_conv": ("AzureLLMInferenceTrace_conv.csv", ["ContextTokens", "GeneratedTokens"]),
    "azure_code": ("AzureLLMInferenceTrace_code.csv", ["ContextTokens", "GeneratedTokens"]),
    "coco_image_sizes": ("image_sizes.csv", ["width", "height"]),
    "imagenet_image_sizes": ("image_sizes_imagenet_sample.csv", ["width", "height", "bytes"]),
    "librispeech_durations": ("audio_durations.csv", ["duration_s", "sample_rate"]),
}


def _trace(name: str) -> dict[str, np.ndarray]:
    assert TRACES is not None
    file, columns = BUNDLED[name]
    return dict(read_trace(TRACES / file, columns).columns)


def _draws(name: str, seed: int = 2024) -> dict[str, np.ndarray]:
    return Profile.load(name).sampler(seed).sample(DRAWS)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def test_every_bundled_profile_is_listed() -> None:
    assert set(bundled_profiles()) == set(BUNDLED)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_profile_is_small_and_has_provenance(name: str) -> None:
    resource = resources.files("locust_ml.profiles").joinpath(f"{name}.json")
    assert len(resource.read_bytes()) < 300_000
    profile = Profile.load(name)
    src = profile.provenance["source"]
    assert src["file"] == BUNDLED[name][0]
    assert src["origin"].startswith("https://github.com/")
    assert src["licence"]
    assert profile.provenance["columns"] == BUNDLED[name][1]
    assert all(v <= 0.05 for v in profile.checks["ks_statistic"].values())


@needs_traces
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_profile_matches_its_trace_file(name: str) -> None:
    assert TRACES is not None
    digest = hashlib.sha256((TRACES / BUNDLED[name][0]).read_bytes()).hexdigest()
    assert Profile.load(name).provenance["source"]["sha256"] == digest


@needs_traces
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_sampled_columns_pass_two_sample_ks(name: str) -> None:
    trace, drawn = _trace(name), _draws(name)
    for column, values in trace.items():
        ks = stats.ks_2samp(values, drawn[column]).statistic
        assert ks <= 0.05, f"{name}.{column}: KS {ks:.4f}"
        assert drawn[column].min() >= values.min()
        assert drawn[column].max() <= values.max()


@needs_traces
@pytest.mark.parametrize("name", ["azure_conv", "azure_code"])
def test_token_pairs_keep_the_spearman_correlation(name: str) -> None:
    trace, drawn = _trace(name), _draws(name)
    expected = _spearman(trace["ContextTokens"], trace["GeneratedTokens"])
    got = _spearman(drawn["ContextTokens"], drawn["GeneratedTokens"])
    assert got == pytest.approx(expected, abs=0.05)


@needs_traces
@pytest.mark.parametrize("name", ["coco_image_sizes", "imagenet_image_sizes"])
def test_image_shapes_are_kept(name: str) -> None:
    trace, drawn = _trace(name), _draws(name)
    expected = _spearman(trace["width"], trace["height"])
    assert _spearman(drawn["width"], drawn["height"]) == pytest.approx(expected, abs=0.05)
    # the common shapes come back as pairs (640x480, 500x375, ...), not just as marginals
    real = Counter(zip(trace["width"].tolist(), trace["height"].tolist(), strict=True))
    fake = Counter(zip(drawn["width"].tolist(), drawn["height"].tolist(), strict=True))
    for shape, count in real.most_common(4):
        assert fake[shape] / DRAWS == pytest.approx(count / len(trace["width"]), abs=0.01)


@needs_traces
def test_coco_cap_is_reproduced() -> None:
    trace, drawn = _trace("coco_image_sizes"), _draws("coco_image_sizes")
    longest_real = np.maximum(trace["width"], trace["height"])
    longest_fake = np.maximum(drawn["width"], drawn["height"])
    assert drawn["width"].max() == 640
    assert np.mean(longest_fake == 640) == pytest.approx(np.mean(longest_real == 640), abs=0.01)
    share_640x640 = np.mean((trace["width"] == 640) & (trace["height"] == 640))
    assert np.mean((drawn["width"] == 640) & (drawn["height"] == 640)) == pytest.approx(
        share_640x640, abs=0.005
    )


@needs_traces
def test_imagenet_bytes_follow_pixels() -> None:
    trace, drawn = _trace("imagenet_image_sizes"), _draws("imagenet_image_sizes")
    expected = _spearman(trace["width"] * trace["height"], trace["bytes"])
    got = _spearman(drawn["width"] * drawn["height"], drawn["bytes"])
    assert got == pytest.approx(expected, abs=0.05)


@needs_traces
@pytest.mark.parametrize("name", ["azure_conv", "azure_code"])
def test_arrival_replay_matches_the_trace(name: str) -> None:
    assert TRACES is not None
    trace = read_trace(TRACES / BUNDLED[name][0], ["ContextTokens"], timestamp="TIMESTAMP")
    assert trace.timestamps_ns is not None
    exact = (trace.timestamps_ns - trace.timestamps_ns[0]) / 1e9
    replay = Profile.load(name).sampler(0).timestamps()
    assert replay.size == exact.size
    assert np.max(np.abs(replay - exact)) <= 0.5e-6 + 1e-9
    arrivals = Profile.load(name).arrivals
    assert arrivals is not None
    gaps = np.diff(exact)
    assert arrivals.gap_cv == pytest.approx(gaps.std() / gaps.mean(), rel=1e-3)


@needs_traces
def test_gaussian_copula_also_keeps_the_token_spearman() -> None:
    from locust_ml.traces import FitOptions, fit_trace

    assert TRACES is not None
    file, columns = BUNDLED["azure_conv"]
    trace = read_trace(TRACES / file, columns)
    profile = fit_trace(trace, FitOptions(dependence="gaussian"), name="g")
    drawn = profile.sampler(7).sample(DRAWS)
    expected = _spearman(trace.columns["ContextTokens"], trace.columns["GeneratedTokens"])
    got = _spearman(drawn["ContextTokens"], drawn["GeneratedTokens"])
    assert got == pytest.approx(expected, abs=0.02)
