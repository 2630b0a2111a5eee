"""Outputs are written whole or not at all, and an overwrite never loses both versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute.staging import staged_directory


def test_overwrite_replaces_the_old_directory_only_when_the_new_one_is_complete(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_directory(target, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("the job failed")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with staged_directory(target, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside it


def test_a_failed_final_rename_puts_the_old_directory_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = Path.rename

    def rename(self: Path, destination: Path) -> Path:
        if self.name.startswith(".out.tmp-"):  # the new directory moving into place
            raise OSError("disk detached")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk detached"), \
            staged_directory(target, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
