"""``locust-ml report``: a re-decided report goes to a new folder unless told otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from locust_ml.cli import main
from locust_ml.report import rerender

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "report_json" / "ramp_open_loop.json"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "reports" / "summarizer-20261129-012415"
    d.mkdir(parents=True)
    shutil.copy(FIXTURE, d / "report.json")
    monkeypatch.setattr(rerender, "now", lambda: 1_800_000_000.0)

    def quick(report: Any, directory: Path) -> dict[str, Path]:
        """report.json as written, the other files empty (plots take seconds to draw)."""
        from locust_ml.report.json import report_to_dict

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report_to_dict(report)))
        for name in ("report.html", "report.md"):
            (out / name).write_text("")
        return {"json": out / "report.json"}

    monkeypatch.setattr("locust_ml.report.outputs.write_report_files", quick)
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
