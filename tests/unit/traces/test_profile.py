"""Profiles: fit, save/load round trip, bundled names, and malformed files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from locust_ml.errors import TraceError
from locust_ml.traces import (
    SCHEMA_VERSION,
    FitOptions,
    Profile,
    bundled_profiles,
    fit_trace,
    read_trace,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "traces"
FIXED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def profile() -> Profile:
    trace = read_trace(
        FIXTURES / "small_llm.csv", ["ContextTokens", "GeneratedTokens"], timestamp="TIMESTAMP"
    )
    return fit_trace(trace, name="small", clock=lambda: FIXED, source_info={"licence": "test"})


def _broken(profile: Profile, tmp_path: Path, edit: Any) -> str:
    obj = profile.to_json()
    edit(obj)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(TraceError) as info:
        Profile.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message


def test_fit_records_provenance(profile: Profile) -> None:
    prov = profile.provenance
    src = prov["source"]
    assert src["file"] == "small_llm.csv"
    assert src["rows"] == 5
    assert src["licence"] == "test"
    assert len(src["sha256"]) == 64
    assert prov["rows_used"] == 5
    assert prov["columns"] == ["ContextTokens", "GeneratedTokens"]
    assert prov["timestamp_column"] == "TIMESTAMP"
    assert prov["created"] == "2026-01-02T03:04:05+00:00"
    assert prov["tool"].startswith("locust-ml ")
    assert prov["options"]["seed"] == 0
    assert profile.arrivals is not None
    assert profile.arrivals.count == 5
    assert set(profile.checks["ks_statistic"]) == {"ContextTokens", "GeneratedTokens"}


def test_save_load_round_trip(profile: Profile, tmp_path: Path) -> None:
    path = profile.save(tmp_path / "sub" / "small.json")
    loaded = Profile.load(path)
    assert loaded.dumps() == profile.dumps()
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    a, b = profile.sampler(4).sample(500), loaded.sampler(4).sample(500)
    for name in a:
        assert np.array_equal(a[name], b[name])
    assert loaded.sampler(0).timestamps().tolist() == profile.sampler(0).timestamps().tolist()


def test_fit_is_deterministic_apart_from_the_clock(profile: Profile) -> None:
    trace = read_trace(
        FIXTURES / "small_llm.csv", ["ContextTokens", "GeneratedTokens"], timestamp="TIMESTAMP"
    )
    again = fit_trace(trace, name="small", clock=lambda: FIXED, source_info={"licence": "test"})
    assert again.dumps() == profile.dumps()
    other = fit_trace(trace, FitOptions(seed=1), name="small", clock=lambda: FIXED)
    assert other.provenance["options"]["seed"] == 1


def test_bundled_profiles_load_by_name() -> None:
    assert set(bundled_profiles()) >= {
        "azure_conv",
        "azure_code",
        "coco_image_sizes",
        "imagenet_image_sizes",
        "librispeech_durations",
    }
    p = Profile.load("azure_conv")
    assert p.name == "azure_conv"
    assert p.column_names == ("ContextTokens", "GeneratedTokens")


def test_unknown_bundled_name_suggests_one() -> None:
    with pytest.raises(TraceError, match="did you mean 'azure_conv'"):
        Profile.load("azure_conf")


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"nope.json: cannot read the profile"):
        Profile.load(tmp_path / "nope.json")


def test_invalid_json_names_line_and_character(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{\n  "schema_version": 1,\n  "kind": oops\n}')
    with pytest.raises(TraceError, match=r"p.json: line 3, character 11: not valid JSON"):
        Profile.load(path)


def test_binary_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"\xff\xd8\xff\xe0JFIF")
    with pytest.raises(TraceError, match="not a text file"):
        Profile.load(path)


def test_not_a_profile(profile: Profile, tmp_path: Path) -> None:
    message = _broken(profile, tmp_path, lambda o: o.pop("kind"))
    assert "field 'kind': missing" in message


def test_newer_schema_version(profile: Profile, tmp_path: Path) -> None:
    message = _broken(profile, tmp_path, lambda o: o.update(schema_version=99))
    assert "field 'schema_version'" in message
    assert "newer locust-ml" in message


def test_schema_version_of_the_wrong_type(profile: Profile, tmp_path: Path) -> None:
    message = _broken(profile, tmp_path, lambda o: o.update(schema_version="1"))
    assert "field 'schema_version': expected an integer, got str '1'" in message


def test_unknown_family(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["columns"][1]["model"]["family"] = "normal"

    message = _broken(profile, tmp_path, edit)
    assert "field 'columns[1].model.family': 'normal' is not one of" in message


def test_non_numeric_quantile(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["columns"][0]["model"]["quantiles"][3] = "x"

    message = _broken(profile, tmp_path, edit)
    assert "field 'columns[0].model.quantiles[3]': expected a finite number" in message


def test_decreasing_quantiles(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["columns"][0]["model"]["quantiles"][-1] = 1

    message = _broken(profile, tmp_path, edit)
    assert "field 'columns[0].model.quantiles': quantiles must not decrease" in message


def test_bounds_out_of_order(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["columns"][0]["max"] = 1

    assert "field 'columns[0].max': max 1 is below min" in _broken(profile, tmp_path, edit)


def test_missing_column_field(profile: Profile, tmp_path: Path) -> None:
    message = _broken(profile, tmp_path, lambda o: o["columns"][0].pop("name"))
    assert "field 'columns[0].name': missing" in message


def test_dependence_columns_must_match(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["dependence"]["columns"] = ["GeneratedTokens", "ContextTokens"]

    assert "field 'dependence.columns'" in _broken(profile, tmp_path, edit)


def test_corrupt_replay_gaps(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["arrivals"]["replay"]["gaps"]["data"] = "AAAA"

    message = _broken(profile, tmp_path, edit)
    assert "field 'arrivals.replay.gaps.data': corrupt packed data" in message


def test_duplicate_column_names(profile: Profile, tmp_path: Path) -> None:
    def edit(o: dict[str, Any]) -> None:
        o["columns"][1]["name"] = "ContextTokens"

    assert "field 'columns[1].name': column 'ContextTokens' appears twice" in _broken(
        profile, tmp_path, edit
    )
