"""The nightly export: one CSV per group, a manifest, and optionally who joined and left.

For each group the job streams the registered members out of Redis (SSCAN),
sorts them through files on disk (:mod:`pipeline.export.ids`), fetches their
details 1,000 at a time and writes the rows, so memory stays bounded whatever
a group's size. Anonymous guests are counted, never listed: a cookie is not a
marketing contact.

The day's folder is built hidden and published whole (:mod:`pipeline.export.writer`);
``manifest.json`` is written last, so a folder with a manifest is complete.
Beside the CSVs, ``.state/<group>.ids`` keeps the sorted IDs that were
exported: the next ``--delta`` run compares against it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline.export.csv_safety import SafeCsvWriter
from pipeline.export.ids import DeltaJoin, IdSorter, read_ids
from pipeline.export.progress import LogProgress, Progress
from pipeline.export.rows import LEFT_COLUMNS, Cells, RowSpec, spec_for
from pipeline.export.source import MemberSource
from pipeline.export.writer import DatedFolder, HashingSink, atomic_file, dated_folders
from schemas.groups import GroupDefinition

log = logging.getLogger("pipeline.export")

MANIFEST = "manifest.json"
STATE_DIR = ".state"
MANIFEST_FORMAT = 1


class UnknownGroups(ValueError):
    """``--group`` named IDs that are not on the definitions topic."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export: where, for which day, which groups (all if empty), with delta files or not."""

    base: Path
    day: date
    groups: tuple[str, ...] = ()
    delta: bool = False


@dataclass
class ExportResult:
    """The published folder, its manifest, and how many malformed member IDs were skipped."""

    folder: Path
    manifest: dict[str, Any]
    rejected_ids: int = 0

    @property
    def files(self) -> list[dict[str, Any]]:
        return list(self.manifest["files"])


@dataclass
class _DeltaFiles:
    joined: SafeCsvWriter
    joined_sink: HashingSink
    left: SafeCsvWriter
    left_sink: HashingSink


@dataclass
class _Outputs:
    """The open files of one group while its rows are written."""

    members: SafeCsvWriter
    members_sink: HashingSink
    snapshot: HashingSink
    delta: _DeltaFiles | None = None
    skipped: int = 0


def file_stem(group_id: str) -> str:
    """``group-12``: named by ID, which never changes, not by name, which staff edit."""
    return f"group-{group_id}"


def group_order(group_id: str) -> tuple[int, int, str]:
    """CMS IDs are numbers: 2 before 10; other IDs after them, alphabetically."""
    return (0, int(group_id), "") if group_id.isdigit() else (1, 0, group_id)


def select(definitions: Mapping[str, GroupDefinition], wanted: Iterable[str]) -> list[GroupDefinition]:
    """The definitions to export, in ID order; every ID in ``wanted`` must exist."""
    wanted = list(dict.fromkeys(wanted))
    missing = [g for g in wanted if g not in definitions]
    if missing:
        known = ", ".join(sorted(definitions, key=group_order)) or "none"
        raise UnknownGroups(f"no group {', '.join(map(repr, missing))} on the definitions topic; known: {known}")
    ids = wanted or list(definitions)
    return [definitions[g] for g in sorted(ids, key=group_order)]


def previous_snapshot(base: Path, day: date, group_id: str) -> tuple[date, Path] | None:
    """The newest complete export before ``day`` that has this group's snapshot."""
    for folder_day, folder in dated_folders(base):
        snapshot = folder / STATE_DIR / f"{group_id}.ids"
        if folder_day < day and snapshot.is_file() and (folder / MANIFEST).is_file():
            return folder_day, snapshot
    return None


def run_export(source: MemberSource, definitions: Mapping[str, GroupDefinition], request: ExportRequest,
               progress: Progress | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ExportResult:
    """Export the requested groups into ``<base>/<day>/``, replacing an older folder for that day."""
    groups = select(definitions, request.groups)
    progress = progress or LogProgress()
    entries: list[dict[str, Any]] = []
    rejected = 0
    with DatedFolder(request.base, request.day) as folder:
        (folder.work / STATE_DIR).mkdir()
        with tempfile.TemporaryDirectory(prefix=".sort-", dir=folder.work) as scratch:
            for definition in groups:
                group_entries, group_rejected = _export_group(
                    source, definition, folder.work, Path(scratch), request, progress)
                entries += group_entries
                rejected += group_rejected
        manifest = {
            "format": MANIFEST_FORMAT,
            "date": request.day.isoformat(),
            "generated_at": clock().isoformat(),
            "delta": request.delta,
            "files": entries,
        }
        with atomic_file(folder.work / MANIFEST) as sink:
            sink.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode() + "\n")
        final = folder.publish()
    log.info("export for %s complete: %s (%d file(s))", request.day, final, len(entries))
    return ExportResult(final, manifest, rejected)


def _export_group(source: MemberSource, definition: GroupDefinition, work: Path, scratch: Path,
                  request: ExportRequest, progress: Progress) -> tuple[list[dict[str, Any]], int]:
    gid = definition.id
    spec = spec_for(gid, definition.type)
    customers, guests = source.counts(gid)
    label = f"group {gid} {definition.name!r}"
    sorter = IdSorter(scratch)
    try:
        progress.start(f"{label}: reading members", customers)
        seen = 0
        for chunk in source.scan(gid):
            sorter.add(chunk)
            seen += len(chunk)
            progress.update(seen)
        progress.finish()
        if sorter.rejected:
            log.warning("%s: %d member ID(s) outside the ID policy skipped (see the manifest)",
                        label, sorter.rejected)
        since = previous_snapshot(request.base, request.day, gid) if request.delta else None
        progress.start(f"{label}: writing rows", customers)
        with ExitStack() as stack:
            out = _open_outputs(stack, work, spec, request.delta)
            unique = _write_rows(source, spec, sorter, out, since[1] if since else None, progress)
        progress.finish()
    finally:
        sorter.close()

    base = {"group_id": gid, "group_name": definition.name, "group_type": definition.type,
            "anonymous_guests": guests}
    stem = file_stem(gid)
    # Every member read from Redis is in the file or counted with its reason:
    # rows + skipped == members_read (the set's size when it was read).
    reasons = {"no_longer_in_group": out.skipped, "invalid_id": sorter.rejected}
    entries = [{**base, "kind": "members", "file": f"{stem}.csv", "rows": out.members.rows,
                "skipped": sum(reasons.values()), "skipped_reasons": reasons,
                "members_read": unique + sorter.rejected,
                "sha256": out.members_sink.hexdigest(), "columns": list(spec.columns)}]
    if out.delta is not None:
        d, delta = out.delta, {"since": since[0].isoformat() if since else None}
        entries.append({**base, "kind": "joined", "file": f"{stem}-joined.csv", "rows": d.joined.rows,
                        "sha256": d.joined_sink.hexdigest(), "columns": list(spec.columns), **delta})
        entries.append({**base, "kind": "left", "file": f"{stem}-left.csv", "rows": d.left.rows,
                        "sha256": d.left_sink.hexdigest(), "columns": list(LEFT_COLUMNS), **delta})
    log.info("%s: %s member row(s), %s anonymous guest(s)%s -> %s.csv", label, f"{out.members.rows:,}",
             f"{guests:,}", f", {out.skipped:,} left out (opted out or removed during the export)"
             if out.skipped else "", stem)
    return entries, sorter.rejected


def _open_outputs(stack: ExitStack, work: Path, spec: RowSpec, delta: bool) -> _Outputs:
    stem = file_stem(spec.group_id)
    members_sink = stack.enter_context(atomic_file(work / f"{stem}.csv"))
    snapshot = stack.enter_context(atomic_file(work / STATE_DIR / f"{spec.group_id}.ids"))
    out = _Outputs(SafeCsvWriter(members_sink), members_sink, snapshot)
    out.members.header(spec.columns)
    if delta:
        joined = stack.enter_context(atomic_file(work / f"{stem}-joined.csv"))
        left = stack.enter_context(atomic_file(work / f"{stem}-left.csv"))
        out.delta = _DeltaFiles(SafeCsvWriter(joined), joined, SafeCsvWriter(left), left)
        out.delta.joined.header(spec.columns)
        out.delta.left.header(LEFT_COLUMNS)
    return out


def _write_rows(source: MemberSource, spec: RowSpec, sorter: IdSorter, out: _Outputs,
                previous: Path | None, progress: Progress) -> int:
    """Members in ID order; with delta files, joined rows and left IDs as the walk passes them.

    Returns how many distinct valid IDs were walked."""
    delta = out.delta
    join = DeltaJoin(read_ids(previous) if previous else ()) if delta is not None else None
    done = 0
    for ids, replies in source.details(sorter.sorted_unique(), spec.fields):
        rows: list[Cells] = []
        kept: list[str] = []
        for customer_id, values in zip(ids, replies, strict=False):
            row = spec.row(customer_id, values)
            if row is None:
                out.skipped += 1
            else:
                rows.append(row)
                kept.append(customer_id)
        out.members.write_rows(rows)
        if kept:
            out.snapshot.write("\n".join(kept) + "\n")
        if join is not None and delta is not None:
            gone, joined = join.step(kept)
            delta.left.write_rows([(g,) for g in gone])
            if joined:
                delta.joined.write_rows([r for r, c in zip(rows, kept, strict=False) if c in joined])
        done += len(ids)
        progress.update(done)
    if join is not None and delta is not None:
        delta.left.write_rows([(g,) for g in join.remaining()])
    return done
