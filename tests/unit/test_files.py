"""``locust_ml.files``: atomic writes leave whole files or none."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from locust_ml.files import write_atomic, write_atomic_chunks


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_write_atomic_leaves_no_temp_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "x.json", "data")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_chunks_keeps_the_old_file_when_the_chunks_fail(tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    write_atomic(target, "old")

    def chunks() -> Iterator[str]:
        yield "a,b\n"
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        write_atomic_chunks(target, chunks())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]
