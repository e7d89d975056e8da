"""The export job over an in-memory member source: files, manifest, delta, idempotence, failures."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from pipeline.export.job import ExportRequest, UnknownGroups, previous_snapshot, run_export, select
from pipeline.export.source import MemberSource, Values
from pipeline.store.keys import KeySpace
from schemas.groups import GroupDefinition

D1, D2, D3 = date(2025, 11, 19), date(2025, 11, 20), date(2025, 11, 21)
NOW = datetime(2025, 11, 20, 2, 0, tzinfo=UTC)


def consent(granted: bool = True) -> str:
    return orjson.dumps({"granted": granted, "at": "2025-11-02T10:00:00+00:00", "source": "account",
                         "staff_id": None}).decode()


class FakeSource(MemberSource):
    """Members and details in dicts; SSCAN order scrambled and with a repeat, as Redis may give."""

    def __init__(self) -> None:
        super().__init__(redis=None, keys=KeySpace("t"), chunk=2)  # type: ignore[arg-type]
        self.customers: dict[str, list[str]] = {}
        self.guests: dict[str, int] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.fail_after: int | None = None

    def counts(self, group_id: str) -> tuple[int, int]:
        return len(set(self.customers.get(group_id, []))), self.guests.get(group_id, 0)

    def scan(self, group_id: str) -> Iterator[list[str]]:
        members = list(reversed(self.customers.get(group_id, [])))
        for i in range(0, len(members), 2):
            yield members[i:i + 2] + members[i:i + 1]  # SSCAN may repeat an ID

    def details(self, customer_ids: Iterable[str], fields: Sequence[str]) -> Iterator[tuple[list[str], list[Values]]]:
        ids = list(customer_ids)
        for i in range(0, len(ids), self.chunk):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectionError("Redis went away")
            chunk = ids[i:i + self.chunk]
            yield chunk, [[self.hashes.get(c, {}).get(f) for f in fields] for c in chunk]

    def customer(self, cid: str, first: str, *groups: str, **extra: str) -> None:
        self.hashes[cid] = {"email": f"{cid}@example.com", "first_name": first, "last_name": "Lee",
                            "date_joined": "2025-11-01", **extra}
        for g in groups:
            self.customers.setdefault(g, []).append(cid)


DEFINITIONS = {d.id: d for d in [
    GroupDefinition(id="1", name="Newsletter", type="public"),
    GroupDefinition(id="7", name="Post", type="private"),
    GroupDefinition(id="12", name="Sony interest", type="dynamic", rules=[["brand", "viewed", "Sony"]]),
]}


@pytest.fixture
def source() -> FakeSource:
    s = FakeSource()
    s.customer("c3", "=HYPERLINK(\"http://x\")", "1", "12", **{"consent:1": consent()})
    s.customer("c1", "山田", "1", "7", **{"consent:1": consent(), "staff:7": orjson.dumps(
        {"member": True, "at": "2025-11-03T09:00:00+00:00", "source": "pos", "staff_id": "till-4"}).decode()})
    s.customer("c2", "Łukasz, \"Luke\"", "12")
    s.customers["12"].append("c-no-details")
    s.guests["12"] = 3
    return s


def read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def export(source: FakeSource, base: Path, day: date = D2, **request: object) -> dict:
    request_ = ExportRequest(base, day, **request)  # type: ignore[arg-type]
    return run_export(source, DEFINITIONS, request_, clock=lambda: NOW).manifest


def test_one_csv_per_group_sorted_by_id_with_a_manifest(tmp_path: Path, source: FakeSource) -> None:
    manifest = export(source, tmp_path)
    folder = tmp_path / "2025-11-20"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "group-1.csv", "group-12.csv", "group-7.csv", "manifest.json"]
    assert read(folder / "group-1.csv") == [
        ["customer_id", "email", "first_name", "last_name", "date_joined",
         "opted_in_at", "opt_in_source", "recorded_by"],
        ["c1", "c1@example.com", "山田", "Lee", "2025-11-01", "2025-11-02T10:00:00+00:00", "account", ""],
        ["c3", "c3@example.com", "'=HYPERLINK(\"http://x\")", "Lee", "2025-11-01", "2025-11-02T10:00:00+00:00",
         "account", ""]]
    assert read(folder / "group-7.csv")[1][-3:] == ["2025-11-03T09:00:00+00:00", "pos", "till-4"]
    assert [r[0] for r in read(folder / "group-12.csv")[1:]] == ["c-no-details", "c2", "c3"]  # guests never listed
    assert manifest == orjson.loads((folder / "manifest.json").read_bytes())
    assert manifest["generated_at"] == NOW.isoformat() and manifest["date"] == "2025-11-20"
    by_file = {f["file"]: f for f in manifest["files"]}
    assert [f["group_id"] for f in manifest["files"]] == ["1", "7", "12"]  # CMS IDs in number order
    sony = by_file["group-12.csv"]
    assert (sony["group_name"], sony["group_type"], sony["rows"], sony["anonymous_guests"]) == (
        "Sony interest", "dynamic", 3, 3)
    assert sony["columns"] == ["customer_id", "email", "first_name", "last_name", "date_joined"]
    for name, entry in by_file.items():
        assert entry["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert (folder / ".state" / "12.ids").read_text() == "c-no-details\nc2\nc3\n"


def test_rerunning_a_day_gives_identical_files(tmp_path: Path, source: FakeSource) -> None:
    first = export(source, tmp_path)
    source.customers["12"].reverse()  # Redis may walk the set in another order
    second = export(source, tmp_path)
    assert [f["sha256"] for f in first["files"]] == [f["sha256"] for f in second["files"]]


def test_only_the_groups_asked_for(tmp_path: Path, source: FakeSource) -> None:
    manifest = export(source, tmp_path, groups=("12", "7", "12"))
    assert [f["file"] for f in manifest["files"]] == ["group-7.csv", "group-12.csv"]
    with pytest.raises(UnknownGroups, match=r"no group '99'.*known: 1, 7, 12"):
        export(source, tmp_path, groups=("99",))


def test_a_customer_who_opts_out_during_the_export_is_left_out(tmp_path: Path, source: FakeSource) -> None:
    source.hashes["c3"]["consent:1"] = consent(granted=False)  # membership not yet removed: a race
    entry = export(source, tmp_path, groups=("1",))["files"][0]
    assert (entry["rows"], entry["skipped"]) == (1, 1)
    assert [r[0] for r in read(tmp_path / "2025-11-20" / "group-1.csv")[1:]] == ["c1"]


def test_an_id_outside_the_policy_is_counted_never_dropped_silently(tmp_path: Path, source: FakeSource) -> None:
    members = source.customers["12"]
    for bad in ("c\x1c9", "c{9}"):
        source.customer(bad, "Odd", "12")
    entry = export(source, tmp_path, groups=("12",))["files"][0]
    assert entry["skipped_reasons"] == {"no_longer_in_group": 0, "invalid_id": 2}
    assert entry["skipped"] == 2 and entry["rows"] == len(set(members)) - 2
    assert entry["rows"] + entry["skipped"] == entry["members_read"] == source.counts("12")[0]


def test_delta_lists_who_joined_and_who_left_since_the_previous_export(tmp_path: Path, source: FakeSource) -> None:
    first = export(source, tmp_path, day=D1, delta=True)
    assert {f["kind"] for f in first["files"]} == {"members", "joined", "left"}
    assert all(f["since"] is None for f in first["files"] if f["kind"] != "members")  # no earlier export
    source.customers["12"].remove("c2")
    source.customer("c4", "@SUM(A1)", "12")
    export(source, tmp_path, day=D2)  # a plain run still leaves a snapshot to compare against
    source.customers["12"].remove("c3")
    source.customer("c0", "Ann", "12")
    manifest = export(source, tmp_path, day=D3, delta=True, groups=("12",))
    folder = tmp_path / "2025-11-21"
    assert read(folder / "group-12-joined.csv") == [
        ["customer_id", "email", "first_name", "last_name", "date_joined"],
        ["c0", "c0@example.com", "Ann", "Lee", "2025-11-01"]]
    assert read(folder / "group-12-left.csv") == [["customer_id"], ["c3"]]
    entries = {f["kind"]: f for f in manifest["files"]}
    assert entries["joined"]["since"] == "2025-11-20" and entries["left"]["rows"] == 1
    assert entries["left"]["sha256"] == hashlib.sha256((folder / "group-12-left.csv").read_bytes()).hexdigest()


def test_previous_snapshot_is_the_newest_earlier_export_of_that_group(tmp_path: Path, source: FakeSource) -> None:
    export(source, tmp_path, day=D1)
    export(source, tmp_path, day=D2, groups=("1",))
    assert previous_snapshot(tmp_path, D3, "1")[0] == D2  # type: ignore[index]
    assert previous_snapshot(tmp_path, D3, "12")[0] == D1  # type: ignore[index]
    assert previous_snapshot(tmp_path, D2, "1")[0] == D1  # type: ignore[index] # never the same day
    assert previous_snapshot(tmp_path, D1, "1") is None


def test_a_failure_mid_export_leaves_the_older_complete_folder(tmp_path: Path, source: FakeSource) -> None:
    before = export(source, tmp_path)
    source.customer("c5", "New", "12")
    source.fail_after = 2
    with pytest.raises(ConnectionError):
        export(source, tmp_path)
    folder = tmp_path / "2025-11-20"
    assert orjson.loads((folder / "manifest.json").read_bytes()) == before
    for entry in before["files"]:
        assert entry["sha256"] == hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
    assert sorted(os.listdir(tmp_path)) == [".export.lock", "2025-11-20"]


def test_select_orders_numeric_ids_numerically() -> None:
    defs = {g: GroupDefinition(id=g, name=g, type="public") for g in ("10", "2", "b", "a")}
    assert [d.id for d in select(defs, [])] == ["2", "10", "a", "b"]
