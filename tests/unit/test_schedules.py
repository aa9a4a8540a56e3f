from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from locust_ml.errors import ConfigError, DependencyError
from locust_ml.schedules import (
    Plan,
    RampPlan,
    SoakPlan,
    SpikePlan,
    Stage,
    StagesPlan,
    Tick,
    pool_size,
)
from locust_ml.stages import parse_stages


@pytest.mark.parametrize(
    ("kwargs", "levels"),
    [
        ({"start_users": 2, "step_users": 3, "max_users": 10}, (2, 5, 8, 10)),
        ({"start_users": 1, "factor": 2.0, "max_users": 16}, (1, 2, 4, 8, 16)),
        ({"start_users": 1, "factor": 1.1, "max_users": 4}, (1, 2, 3, 4)),
        ({"start_users": 5, "max_users": 5}, (5,)),
        ({"start_users": 3, "factor": 3.0, "max_users": 20}, (3, 9, 20)),
        # A last step under a quarter of a regular one: the step before goes to the max.
        ({"start_users": 8, "factor": 1.5, "max_users": 64}, (8, 12, 18, 27, 41, 64)),
        ({"start_users": 1, "factor": 2.0, "max_users": 20}, (1, 2, 4, 8, 16, 20)),
        ({"start_users": 10, "step_users": 10, "max_users": 42}, (10, 20, 30, 42)),
        ({"start_users": 10, "step_users": 10, "max_users": 43}, (10, 20, 30, 40, 43)),
        ({"start_users": 1, "factor": 2.0, "max_users": 3}, (1, 2, 3)),
    ],
)
def test_levels(kwargs: dict[str, object], levels: tuple[int, ...]) -> None:
    assert RampPlan(step_seconds=10, **kwargs).levels() == levels  # type: ignore[arg-type]


def test_at_walks_the_steps_then_stops() -> None:
    plan = RampPlan(start_users=1, step_users=1, max_users=3, step_seconds=10, spawn_rate=5)
    assert plan.at(0.0) == Tick(step=1, users=1, spawn_rate=5)
    assert plan.at(9.999) == Tick(step=1, users=1, spawn_rate=5)
    assert plan.at(10.0) == Tick(step=2, users=2, spawn_rate=5)
    assert plan.at(29.9) == Tick(step=3, users=3, spawn_rate=5)
    assert plan.at(30.0) is None
    assert plan.duration == 30.0
    assert plan.at(-1.0) == Tick(step=1, users=1, spawn_rate=5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_users": 0}, "start"),
        ({"start_users": 5, "max_users": 2}, "max"),
        ({"step_seconds": 0}, "duration"),
        ({"step_users": 0}, "step"),
        ({"factor": 1.0}, "factor"),
        ({"spawn_rate": 0}, "spawn"),
    ],
)
def test_invalid_ramps_raise_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RampPlan(**kwargs)  # type: ignore[arg-type]


# --- both load modes, every plan -------------------------------------------------------------


def _walk(plan: Plan, times: list[float]) -> list[tuple[object, ...] | None]:
    out: list[tuple[object, ...] | None] = []
    for t in times:
        tick = plan.at(t)
        out.append(
            None
            if tick is None
            else (tick.step, tick.users, tick.offered_rps, tick.mode, tick.warmup_s, tick.label)
        )
    return out


def test_open_ramp_offers_rates_and_a_user_pool() -> None:
    plan = RampPlan(mode="open", start_rps=10, step_rps=15, max_rps=50, step_seconds=20, warmup_s=5)
    assert plan.loads() == (10.0, 25.0, 40.0, 50.0)
    assert plan.levels() == (10, 25, 40, 50)  # Little's law at 1 s per request
    assert plan.duration == 80.0
    assert _walk(plan, [0, 19.9, 20, 79.9, 80]) == [
        (1, 10, 10.0, "open", 5, ""),
        (1, 10, 10.0, "open", 5, ""),
        (2, 25, 25.0, "open", 5, ""),
        (4, 50, 50.0, "open", 5, ""),
        None,
    ]
    assert RampPlan(mode="open", start_rps=10, max_rps=41, factor=2).loads() == (10.0, 20.0, 41.0)
    assert RampPlan(mode="open", start_rps=10, max_rps=50, factor=2).loads() == (
        10.0,
        20.0,
        40.0,
        50.0,
    )
    fixed = RampPlan(mode="open", start_rps=5, max_rps=40, factor=2, pool_users=3)
    assert fixed.loads() == (5.0, 10.0, 20.0, 40.0)
    assert fixed.levels() == (3, 3, 3, 3)


def test_closed_ramp_ignores_rate_fields_and_keeps_its_ticks() -> None:
    plan = RampPlan(start_users=1, max_users=2, step_seconds=10, start_rps=99, warmup_s=2)
    assert plan.at(15.0) == Tick(step=2, users=2, spawn_rate=100.0, warmup_s=2)
    assert plan.at(15.0, None) == plan.at(15.0)
    assert [s.start for s in plan.steps()] == [0.0, 10.0]


@pytest.mark.parametrize(
    ("plan", "times", "expected"),
    [
        (
            SoakPlan(
                load=30,
                ramp_up_s=60,
                ramp_up_steps=2,
                hold_s=3600,
                ramp_down_s=30,
                ramp_down_steps=2,
                warmup_s=120,
            ),
            [0, 29.9, 30, 60, 3659.9, 3660, 3689.9, 3690],
            [
                (1, 10, None, "closed", 0.0, "ramp-up"),
                (1, 10, None, "closed", 0.0, "ramp-up"),
                (2, 20, None, "closed", 0.0, "ramp-up"),
                (3, 30, None, "closed", 120, "hold"),
                (3, 30, None, "closed", 120, "hold"),
                (4, 20, None, "closed", 0.0, "ramp-down"),
                (5, 10, None, "closed", 0.0, "ramp-down"),
                None,
            ],
        ),
        (
            SoakPlan(
                mode="open",
                load=90,
                ramp_up_s=20,
                ramp_up_steps=2,
                hold_s=7200,
                ramp_down_s=0,
                ramp_down_steps=0,
                pool_users=50,
            ),
            [0, 10, 20, 7219.9, 7220],
            [
                (1, 50, 30.0, "open", 0.0, "ramp-up"),
                (2, 50, 60.0, "open", 0.0, "ramp-up"),
                (3, 50, 90.0, "open", 0.0, "hold"),
                (3, 50, 90.0, "open", 0.0, "hold"),
                None,
            ],
        ),
        (
            # closed-loop rounding makes the ramp repeat levels: merged into one step
            SoakPlan(
                load=2,
                ramp_up_s=40,
                ramp_up_steps=4,
                hold_s=100,
                ramp_down_s=0,
                ramp_down_steps=0,
            ),
            [0, 29.9, 30, 139.9, 140],  # levels 0.4, 0.8, 1.2, 1.6 -> 1, 1, 1, 2 users
            [
                (1, 1, None, "closed", 0.0, "ramp-up"),
                (1, 1, None, "closed", 0.0, "ramp-up"),
                (2, 2, None, "closed", 0.0, "hold"),
                (2, 2, None, "closed", 0.0, "hold"),
                None,
            ],
        ),
        (
            SpikePlan(
                baseline=10, factor=5, baseline_s=60, spike_s=30, recovery_s=120, warmup_s=10
            ),
            [0, 59.9, 60, 89.9, 90, 209.9, 210],
            [
                (1, 10, None, "closed", 10, "baseline"),
                (1, 10, None, "closed", 10, "baseline"),
                (2, 50, None, "closed", 0.0, "spike"),
                (2, 50, None, "closed", 0.0, "spike"),
                (3, 10, None, "closed", 0.0, "recovery"),
                (3, 10, None, "closed", 0.0, "recovery"),
                None,
            ],
        ),
        (
            SpikePlan(mode="open", baseline=20, factor=2.5, baseline_s=5, spike_s=5, recovery_s=5),
            [0, 5, 10, 15],
            [
                (1, 20, 20.0, "open", 0.0, "baseline"),
                (2, 50, 50.0, "open", 0.0, "spike"),
                (3, 20, 20.0, "open", 0.0, "recovery"),
                None,
            ],
        ),
        (
            StagesPlan(
                (
                    Stage(10, users=2),
                    Stage(20, users=8, spawn_rate=4, label="peak", warmup_s=5),
                    Stage(10, users=8),
                    Stage(5, users=0),
                )
            ),
            [0, 10, 29.9, 30, 40, 45],
            [
                (1, 2, None, "closed", 0.0, "stage-1"),
                (2, 8, None, "closed", 5, "peak"),
                (2, 8, None, "closed", 5, "peak"),
                (3, 8, None, "closed", 0.0, "stage-3"),  # same load: still its own step
                (4, 0, None, "closed", 0.0, "stage-4"),
                None,
            ],
        ),
        (
            StagesPlan((Stage(10, rps=5.0), Stage(10, rps=200.0, users=20)), pool_users=4),
            [-1, 0, 10, 20],
            [
                (1, 4, 5.0, "open", 0.0, "stage-1"),
                (1, 4, 5.0, "open", 0.0, "stage-1"),
                (2, 20, 200.0, "open", 0.0, "stage-2"),
                None,
            ],
        ),
    ],
)
def test_plan_ticks(plan: Plan, times: list[float], expected: list[object]) -> None:
    assert _walk(plan, times) == expected


def test_steps_cover_the_plan_without_gaps() -> None:
    for plan in (
        SoakPlan(load=7, ramp_up_s=35, ramp_up_steps=7, hold_s=60, ramp_down_s=10),
        SpikePlan(mode="open", baseline=3.5, factor=4),
        StagesPlan((Stage(1.5, users=1), Stage(2.5, users=3))),
        RampPlan(start_users=1, max_users=5, step_seconds=7),
    ):
        steps = plan.steps()
        assert steps[0].start == 0.0
        assert all(a.end == b.start for a, b in itertools.pairwise(steps))
        assert steps[-1].end == plan.duration
        assert [s.tick.step for s in steps] == list(range(1, len(steps) + 1))
        assert plan.at(plan.duration) is None


def test_spike_and_soak_spawn_rates_and_peaks() -> None:
    spike = SpikePlan(baseline=3, factor=2.5, spawn_rate=50)
    assert spike.peak == 8.0  # round(7.5): users are whole
    assert {s.tick.spawn_rate for s in spike.steps()} == {50.0}
    assert SpikePlan(mode="open", baseline=3, factor=2.5).peak == 7.5


def test_tick_helpers() -> None:
    assert Tick.of(3, 40, "open", 10.0, pool_users=None) == Tick(3, 40, 10.0, 40.0, "open")
    assert Tick.of(3, 40, "closed", 10.0, 2.0, "x") == Tick(3, 40, 10.0, None, "closed", 2.0, "x")
    assert Tick(1, 5, 1.0).load == 5.0
    assert Tick(1, 5, 1.0, 12.5, "open").load == 12.5
    assert pool_size(0.01) == 1
    assert pool_size(99.5) == 100


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RampPlan(mode="open", start_rps=-1), "ramp start must be > 0 requests/s"),
        (lambda: RampPlan(mode="open", start_rps=10, max_rps=5), "ramp max"),
        (lambda: RampPlan(mode="open", step_rps=0), "ramp step must be > 0"),
        (lambda: RampPlan(mode="sideways"), "mode must be"),  # type: ignore[arg-type]
        (lambda: RampPlan(step_seconds=10, warmup_s=10), "warm-up"),
        (lambda: RampPlan(pool_users=0), "pool users"),
        (lambda: RampPlan(mode="open", start_rps=0.001, step_rps=0.001, max_rps=1e6), "steps"),
        (lambda: SoakPlan(load=0), "soak load must be > 0"),
        (lambda: SoakPlan(load=-5, mode="open"), "soak load must be > 0 requests/s"),
        (lambda: SoakPlan(load=2.5), "whole number of users"),
        (lambda: SoakPlan(hold_s=0), "hold must be > 0"),
        (lambda: SoakPlan(ramp_up_s=60, ramp_up_steps=0), "ramp-up"),
        (lambda: SoakPlan(ramp_down_s=0, ramp_down_steps=2), "ramp-down"),
        (lambda: SoakPlan(hold_s=60, warmup_s=60), "warm-up"),
        (lambda: SpikePlan(factor=1.0), "factor must be > 1"),
        (lambda: SpikePlan(baseline=1, factor=1.2), "rounds to no extra user"),
        (lambda: SpikePlan(spike_s=0), "spike duration must be > 0"),
        (lambda: SpikePlan(baseline=-1, mode="open"), "baseline must be > 0"),
        (lambda: SpikePlan(spawn_rate=0), "spawn rate"),
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
def test_invalid_plans_raise_one_clear_config_error(factory: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        factory()  # type: ignore[operator]
    assert "\n" not in str(info.value)


# --- stages files ----------------------------------------------------------------------------

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
    a = StagesPlan.from_file(yaml_file, pool_users=3)
    assert [(s.tick.offered_rps, s.tick.users) for s in a.steps()] == [(5.0, 3), (50.0, 8)]
    b = StagesPlan.from_file(str(json_file))
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
        StagesPlan.from_file(path)
    assert "\n" not in str(info.value)


def test_missing_stages_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the stages file"):
        StagesPlan.from_file(tmp_path / "nope.yaml")


def test_yaml_without_pyyaml_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(DependencyError, match="pyyaml"):
        parse_stages("- {duration: 1, users: 1}\n")
    assert parse_stages('[{"duration": 1, "users": 1}]', fmt="json").duration == 1.0


# ------------------------------------------------------------- the plan in words


def test_every_fixed_plan_says_its_total_length() -> None:
    from locust_ml.schedules import describe_plan

    assert describe_plan(
        SoakPlan(load=4, ramp_up_s=10, ramp_up_steps=5, hold_s=30, ramp_down_s=0, ramp_down_steps=0)
    ) == ("soak plan: 4 users; 3 ramp-up steps over 10 s, hold 30 s; total 40 s")
    assert describe_plan(SoakPlan(load=40, hold_s=4 * 3600, ramp_up_s=300)) == (
        "soak plan: 40 users; 5 ramp-up steps over 5 min, hold 4 h, ramp-down 1 min; "
        "total 4 h 6 min"
    )
    assert describe_plan(
        SpikePlan(mode="open", baseline=20, factor=5, baseline_s=60, spike_s=30, recovery_s=120)
    ) == (
        "spike plan: baseline 20 req/s for 1 min, spike to 100 req/s for 30 s, "
        "recovery 2 min; total 3 min 30 s"
    )
    assert describe_plan(RampPlan(mode="open", start_rps=10, max_rps=50, factor=2.0)) == (
        "ramp plan: 4 steps of 30 s, 10 req/s to 50 req/s; total 2 min"
    )
    stages = StagesPlan((Stage(60, users=5), Stage(120, users=20)))
    assert describe_plan(stages) == "stages plan: 2 stages; total 3 min"
    assert describe_plan(object()) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "0.25 s"), (45, "45 s"), (60, "1 min"), (114, "1 min 54 s"), (3600, "1 h")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    from locust_ml.schedules import format_seconds

    assert format_seconds(seconds) == text


def test_a_binary_stages_file_is_one_config_error(tmp_path: Path) -> None:
    # Issue 13: read_text raised UnicodeDecodeError, a traceback at start-up.
    binary = tmp_path / "stages.json"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(
        ConfigError, match=r"stages\.json: not a text file \(byte 0x80 at offset 128"
    ):
        StagesPlan.from_file(binary)
