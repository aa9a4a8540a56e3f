from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from locust_ml.errors import ConfigError, DependencyError
from locust_ml.schedules import Tick
from locust_ml.shapes import (
    PlanContext,
    Stage,
    StagesPlan,
    StagesSpec,
    load_stages_file,
    parse_stages,
)
from tests.shape_walk import walk


def test_stages_in_code_closed_loop() -> None:
    plan = StagesPlan(
        (
            Stage(10, users=2),
            Stage(20, users=8, spawn_rate=4, label="peak", warmup_s=5),
            Stage(10, users=8),
            Stage(5, users=0),
        )
    )
    assert walk(plan, [0, 10, 29.9, 30, 40, 45]) == [
        (1, 2, None, "closed", 0.0, "stage-1"),
        (2, 8, None, "closed", 5, "peak"),
        (2, 8, None, "closed", 5, "peak"),
        (3, 8, None, "closed", 0.0, "stage-3"),  # same load: still its own step
        (4, 0, None, "closed", 0.0, "stage-4"),
        None,
    ]


def test_stages_in_code_open_loop() -> None:
    plan = StagesPlan((Stage(10, rps=5.0), Stage(10, rps=200.0, users=20)), pool_users=4)
    assert walk(plan, [-1, 0, 10, 20]) == [
        (1, 4, 5.0, "open", 0.0, "stage-1"),
        (1, 4, 5.0, "open", 0.0, "stage-1"),
        (2, 20, 200.0, "open", 0.0, "stage-2"),
        None,
    ]
    assert plan.describe() == "stages plan: 2 stages; total 20 s"


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: StagesPlan(()), "no stages"),
        (lambda: StagesPlan((Stage(1, users=1), Stage(1, rps=2.0))), "mixing users"),
        (lambda: Stage(0, users=1), "duration must be > 0"),
        (lambda: Stage(10), "needs users"),
        (lambda: Stage(10, users=-1), "users must be"),
        (lambda: Stage(10, rps=-1.0), "rate must be"),
        (lambda: Stage(10, rps=1.0, users=0), "starting pool"),
        (lambda: Stage(10, users=1, warmup_s=10), "warmup"),
        (lambda: Stage(10, users=1, spawn_rate=0), "spawn_rate"),
    ],
)
def test_impossible_stages(factory: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        factory()  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_the_spec_reads_its_file_with_the_common_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('[{"duration": 10, "users": 2}, {"duration": 10, "users": 4, "warmup": 1}]')
    plan = StagesSpec(file=str(path), warmup=3, spawn_rate=7).plan(PlanContext())
    assert [(s.tick.warmup_s, s.tick.spawn_rate) for s in plan.steps()] == [(3, 7), (1, 7)]
    with pytest.raises(ConfigError, match="needs a file"):
        StagesSpec().plan(PlanContext())


YAML_STAGES = """
spawn_rate: 5
stages:
  - {duration: 2m, users: 10, label: warm}
  - duration: 90
    users: 50
    spawn_rate: 20
    warmup: 10s
"""


def test_stages_from_yaml_text() -> None:
    plan = parse_stages(YAML_STAGES, source="s.yaml")
    assert [(s.start, s.end) for s in plan.steps()] == [(0.0, 120.0), (120.0, 210.0)]
    assert [s.tick for s in plan.steps()] == [
        Tick(1, 10, 5.0, None, "closed", 0.0, "warm"),
        Tick(2, 50, 20.0, None, "closed", 10.0, "stage-2"),
    ]


def test_stages_from_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "stages.yml"
    yaml_file.write_text("- {duration: 10, rate: 5}\n- {duration: 10, rps: 50, users: 8}\n")
    json_file = tmp_path / "stages.json"
    json_file.write_text(json.dumps({"stages": [{"duration": "1m", "rate": 2.5}]}))
    a = load_stages_file(yaml_file, pool_users=3)
    assert [(s.tick.offered_rps, s.tick.users) for s in a.steps()] == [(5.0, 3), (50.0, 8)]
    b = load_stages_file(str(json_file))
    assert b.duration == 60.0
    assert b.mode == "open"


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        (
            "bad.yaml",
            "stages:\n  - {duration: 10, users: 5\n",
            r"bad\.yaml: not valid YAML: .* line \d+",
        ),
        ("bad.json", '[{"duration": 10,}]', r"bad\.json: not valid JSON: .* line 1, column \d+"),
        ("s.yaml", "- {users: 5}\n", r"s\.yaml: stage 1: field 'duration' is missing"),
        (
            "s.yaml",
            "- {duration: 10, users: 5}\n- {duration: 0, users: 5}\n",
            r"stage 2: field 'duration': duration must be > 0",
        ),
        (
            "s.yaml",
            "- {duration: 10, users: 5.5}\n",
            r"stage 1: field 'users': expected a whole number",
        ),
        (
            "s.yaml",
            "- {duration: 10, users: true}\n",
            r"stage 1: field 'users': expected a whole number",
        ),
        (
            "s.yaml",
            "- {duration: soon, users: 1}\n",
            r"stage 1: field 'duration': 'soon' is not a duration",
        ),
        ("s.yaml", "- {duration: 10, rate: -2}\n", r"stage 1: field 'rate': rate must be >= 0"),
        ("s.yaml", "- {duration: 10, users: 1, colour: red}\n", r"stage 1: unknown field 'colour'"),
        ("s.yaml", "- {duration: 10, rate: 1, rps: 2}\n", r"stage 1: give 'rate' or 'rps'"),
        ("s.yaml", "- {duration: 10}\n", r"stage 1: a stage needs users"),
        ("s.yaml", "- {duration: 10, users: 1, label: 3}\n", r"stage 1: field 'label'"),
        ("s.yaml", "- 10\n", r"stage 1: expected a mapping"),
        ("s.yaml", "[]\n", r"s\.yaml: expected a non-empty list"),
        ("s.yaml", "stages: {}\n", r"s\.yaml: expected a non-empty list"),
        ("s.yaml", "steps: []\n", r"s\.yaml: unknown key 'steps'"),
        (
            "s.yaml",
            "- {duration: 1, users: 1}\n- {duration: 1, rate: 1}\n",
            r"s\.yaml: stages: mixing",
        ),
        ("s.txt", "- {duration: 1, users: 1}\n", r"s\.txt: unknown stages file type"),
    ],
)
def test_bad_stages_files_name_file_stage_and_field(
    tmp_path: Path, name: str, text: str, match: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_stages_file(path)
    assert "\n" not in str(info.value)


def test_missing_stages_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the stages file"):
        load_stages_file(tmp_path / "nope.yaml")


def test_yaml_without_pyyaml_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(DependencyError, match="pyyaml"):
        parse_stages("- {duration: 1, users: 1}\n")
    assert parse_stages('[{"duration": 1, "users": 1}]', fmt="json").duration == 1.0


def test_a_binary_stages_file_is_one_config_error(tmp_path: Path) -> None:
    # Issue 13: read_text raised UnicodeDecodeError, a traceback at start-up.
    binary = tmp_path / "stages.json"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(
        ConfigError, match=r"stages\.json: not a text file \(byte 0x80 at offset 128"
    ):
        load_stages_file(binary)
