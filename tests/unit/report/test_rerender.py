"""``locust-ml report``: a re-decided report goes to a new folder unless told otherwise;
a hand-edited report.json is one line, exit 2, and nothing written.

Issue 13: ``1e999`` and ``percentiles: [500]`` ended in tracebacks, the
second after the HTML, Markdown and CSV files had already been replaced.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from locust_ml.cli import main
from locust_ml.report import rerender

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "report_json" / "ramp_open_loop.json"
#: Put in place of step 1's p99, then replaced as text by what JSON cannot say.
MARK = 123456.789


def _with_p99(text: str) -> str:
    data = json.loads(text)
    data["steps"][0]["latency_ms"]["p99"] = MARK
    return json.dumps(data)


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "reports" / "summarizer-20261129-012415"
    d.mkdir(parents=True)
    shutil.copy(FIXTURE, d / "report.json")
    monkeypatch.setattr(rerender, "now", lambda: 1_800_000_000.0)

    def quick(report: Any) -> dict[str, str]:
        """report.json as rendered, the other files empty (plots take seconds to draw)."""
        from locust_ml.report.json import report_to_dict

        return {"json": json.dumps(report_to_dict(report)), "html": "", "markdown": "", "csv": ""}

    monkeypatch.setattr("locust_ml.report.outputs.render_report_files", quick)
    return d


def test_a_new_folder_by_default_and_the_runs_files_untouched(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (run_dir / "report.json").read_bytes()
    code = main(["report", str(run_dir / "report.json"), "--ml-slo", "p99<100ms"])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2)  # the verdict's code (this fixture's steps are short: INVALID)
    assert "error" not in err
    (new,) = [p for p in run_dir.iterdir() if p.is_dir()]
    assert new.name.startswith("redecided-")
    assert {p.name for p in new.iterdir()} >= {"report.json", "report.html", "report.md"}
    assert (run_dir / "report.json").read_bytes() == before
    assert not (run_dir / "report.html").exists()
    last = out.rstrip().splitlines()[-1]
    assert last == (
        f"locust-ml report: {new / 'report.html'} (the run's own files in {run_dir} are "
        "unchanged; --in-place overwrites them)"
    )
    # Twice in the same second: another new folder, not the first one again.
    main(["report", str(run_dir)])
    assert len([p for p in run_dir.iterdir() if p.is_dir()]) == 2


def test_in_place_overwrites_the_runs_files(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["report", str(run_dir), "--in-place", "--ml-slo", "p99<100ms"])
    assert (run_dir / "report.html").exists()
    assert '"p99<100ms"' in (run_dir / "report.json").read_text()
    assert not [p for p in run_dir.iterdir() if p.is_dir()]
    assert capsys.readouterr().out.rstrip().endswith("(the run's own files were overwritten)")


def test_output_and_in_place_exclude_each_other(run_dir: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["report", str(run_dir), "--in-place", "-o", str(run_dir / "x")])
    assert info.value.code == 2


def test_new_folder_names() -> None:
    assert rerender.new_folder(Path("/nonexistent"), "20300101-000000") == Path(
        "/nonexistent/redecided-20300101-000000"
    )


# -- hand-edited reports (issue 13) ------------------------------------------------

#: Put in place of step 1's p99, then replaced as text by what JSON cannot say.
MARK = 123456.789


def _with_p99(text: str) -> str:
    data = json.loads(text)
    data["steps"][0]["latency_ms"]["p99"] = MARK
    return json.dumps(data)


def _first_p99_to_1e999(text: str) -> str:
    return _with_p99(text).replace(str(MARK), "1e999", 1)


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_first_p99_to_1e999, "the number 1e999 is out of range"),
        (lambda t: _with_p99(t).replace(str(MARK), "NaN", 1), "NaN is not a number"),
        (
            _edit(lambda d: d.update(percentiles=[500])),
            "percentiles: percentile 500 is outside (0, 100]",
        ),
        (_edit(lambda d: d.update(percentiles=["x"])), "not a locust-ml report"),
        (_edit(lambda d: d["steps"][0].update(requests="many")), "not a locust-ml report"),
        (_edit(lambda d: d["steps"].__setitem__(0, None)), "not a locust-ml report"),
        (  # found by fuzzing: an AttributeError, not caught
            _edit(lambda d: d["steps"][0].update(endpoints=[None])),
            "(AttributeError: 'NoneType' object has no attribute 'get')",
        ),
        (_edit(lambda d: d.update(search={"reason": "?"})), "not a locust-ml report"),
        (lambda t: "[" * 100_000, "nested too deeply"),
    ],
)
def test_a_hand_edited_report_is_one_line_and_nothing_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[str], str],
    message: str,
) -> None:
    text = FIXTURE.read_text()
    saved = tmp_path / "report.json"
    saved.write_text(edit(text))
    before = saved.read_bytes()
    code = main(["report", str(saved)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert message in err
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert saved.read_bytes() == before


def test_a_valid_report_is_rendered_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(FIXTURE.read_text())
    code = main(["report", str(saved), "--ml-slo", "p99<1s", "--in-place"])
    assert code in (0, 1, 2)
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report.html",
        "report.json",
        "report.md",
        "steps.csv",
    ]
