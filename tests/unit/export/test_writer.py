"""Files and folders appear complete or not at all; a crashed run leaves nothing under final names."""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import pytest

from pipeline.export import writer
from pipeline.export.writer import DatedFolder, ExportBusy, atomic_file, dated_folders, temp_name

DAY = date(2025, 11, 20)


def visible(base: Path) -> list[str]:
    """What a marketing tool polling ``base`` would see: non-hidden paths, recursively."""
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")
                  if not any(part.startswith(".") for part in p.relative_to(base).parts))


def test_atomic_file_appears_whole_with_its_checksum(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    with atomic_file(target) as sink:
        sink.write("héllo,山田\r\n")
        assert not target.exists()  # nothing under the final name while writing
        assert temp_name(target).exists() and temp_name(target).name.startswith(".")
    data = target.read_bytes()
    assert data == "héllo,山田\r\n".encode()
    assert sink.hexdigest() == hashlib.sha256(data).hexdigest() and sink.bytes == len(data)
    assert os.listdir(tmp_path) == ["a.csv"]


def test_a_failure_leaves_the_older_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    target.write_bytes(b"old, complete\r\n")
    with pytest.raises(RuntimeError), atomic_file(target) as sink:
        sink.write("new, half")
        raise RuntimeError("Redis went away")
    assert target.read_bytes() == b"old, complete\r\n"
    assert os.listdir(tmp_path) == ["a.csv"]


def test_a_folder_is_published_whole(tmp_path: Path) -> None:
    with DatedFolder(tmp_path, DAY) as folder:
        (folder.work / "group-1.csv").write_text("x")
        assert visible(tmp_path) == []  # still hidden while it is built
        assert folder.publish() == tmp_path / "2025-11-20"
    assert visible(tmp_path) == ["2025-11-20", "2025-11-20/group-1.csv"]
    assert sorted(os.listdir(tmp_path)) == [".export.lock", "2025-11-20"]


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_republishing_a_day_replaces_the_older_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       swap: bool) -> None:
    if not swap:
        monkeypatch.setattr(writer, "exchange", lambda a, b: False)
    for content in ("first", "second"):
        with DatedFolder(tmp_path, DAY) as folder:
            (folder.work / f"{content}.csv").write_text(content)
            folder.publish()
    assert visible(tmp_path) == ["2025-11-20", "2025-11-20/second.csv"]
    assert sorted(os.listdir(tmp_path)) == [".export.lock", "2025-11-20"]  # nothing moved aside is left


def test_exchange_swaps_two_folders_on_linux(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "from-a").touch(), (b / "from-b").touch()
    if not writer.exchange(a, b):
        pytest.skip("this filesystem or platform cannot exchange; the fallback is tested above")
    assert os.listdir(a) == ["from-b"] and os.listdir(b) == ["from-a"]


def test_a_failed_run_keeps_the_older_folder_and_cleans_up(tmp_path: Path) -> None:
    with DatedFolder(tmp_path, DAY) as folder:
        (folder.work / "group-1.csv").write_text("complete")
        folder.publish()
    with pytest.raises(RuntimeError), DatedFolder(tmp_path, DAY) as folder:
        (folder.work / "group-1.csv").write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "2025-11-20" / "group-1.csv").read_text() == "complete"
    assert sorted(os.listdir(tmp_path)) == [".export.lock", "2025-11-20"]


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    partial = tmp_path / ".2025-11-20.partial"
    partial.mkdir()
    (partial / ".group-1.csv.123.tmp").write_text("half")
    (tmp_path / ".2025-11-20.old-99").mkdir()
    (tmp_path / ".2025-11-19.partial").mkdir()  # another day's: not ours to touch
    with DatedFolder(tmp_path, DAY) as folder:
        assert os.listdir(folder.work) == []
        folder.publish()
    assert sorted(os.listdir(tmp_path)) == [".2025-11-19.partial", ".export.lock", "2025-11-20"]


def test_two_exports_cannot_build_in_the_same_base_at_once(tmp_path: Path) -> None:
    with (DatedFolder(tmp_path, DAY), pytest.raises(ExportBusy, match="another export is running"),
          DatedFolder(tmp_path, date(2025, 11, 21))):
        pass
    with DatedFolder(tmp_path, DAY) as folder:  # the lock is released afterwards
        folder.publish()


def test_dated_folders_lists_complete_days_newest_first(tmp_path: Path) -> None:
    for name in ("2025-11-18", "2025-11-20", ".2025-11-21.partial", "2025-13-01", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "2025-11-19").write_text("a file, not a folder")
    assert [d for d, _ in dated_folders(tmp_path)] == [date(2025, 11, 20), date(2025, 11, 18)]
    assert dated_folders(tmp_path / "missing") == []
