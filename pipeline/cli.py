"""The ``customer-groups`` command: one entry point, a subcommand per job.

Heavy imports (Faust, Redis) happen inside the subcommand that needs them, so
``customer-groups rules check`` starts fast and needs no servers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
from pydantic import ValidationError

from pipeline.settings import Settings, get_settings


def _policy(settings: Settings):
    from pipeline.profile import ProfilePolicy

    return ProfilePolicy.from_settings(settings)


def cmd_rules_check(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.rules import load

    path = Path(args.path or settings.rules_dir)
    ruleset = load(path, _policy(settings))
    for group in ruleset.groups.values():
        d = group.definition
        print(f"  {d.id:>5}  {d.type:<8} {d.name}  ({ruleset.sources[d.id]})")
    if ruleset.errors:
        print(f"\n{len(ruleset.errors)} problem(s):", file=sys.stderr)
        for error in ruleset.errors:
            print(f"  - {error}", file=sys.stderr)
        return 1
    print(f"OK: {len(ruleset.groups)} group(s) in {path}")
    return 0


def _read_profile(source: str, settings: Settings):
    """A profile from JSON: a list of events (folded in order) or a stored profile."""
    from pipeline.profile import decode, fold, new_profile, subject_for
    from schemas.decode import decode_event

    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    data = orjson.loads(raw)
    if isinstance(data, dict) and "events" not in data:
        return decode(raw)
    events = [decode_event(orjson.dumps(e)) for e in (data["events"] if isinstance(data, dict) else data)]
    if not events:
        raise ValueError("the profile has no events")
    customer = next((e.customer_id for e in events if e.customer_id), None)
    visitor = next((e.visitor_id for e in events if e.visitor_id), None)
    profile = new_profile(subject_for(customer, visitor))
    policy = _policy(settings)
    for event in events:
        fold(profile, event, policy)
    return profile


def cmd_rules_explain(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.rules import evaluate, load

    policy = _policy(settings)
    ruleset = load(Path(args.rules or settings.rules_dir), policy)
    if not ruleset.ok:
        for error in ruleset.errors:
            print(f"  - {error}", file=sys.stderr)
        return 1
    wanted = [g for g in ruleset.groups.values()
              if args.group is None or args.group in (g.id, g.definition.name)]
    if not wanted:
        print(f"no group {args.group!r}; known: {', '.join(ruleset.groups)}", file=sys.stderr)
        return 1
    profile = _read_profile(args.profile, settings)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        print("--now needs a UTC offset, e.g. 2025-11-20T10:00:00+00:00", file=sys.stderr)
        return 2
    outcomes = [evaluate(g, profile, now, policy) for g in wanted]
    if args.json:
        print(orjson.dumps([o.as_dict() for o in outcomes], option=orjson.OPT_INDENT_2).decode())
        return 0
    for group, outcome in zip(wanted, outcomes, strict=False):
        verdict = "IS a member of" if outcome.matched else "is NOT a member of"
        print(f"{profile.subject} {verdict} group {group.id} {group.definition.name!r}")
        print(outcome.explanation.render(1))
        if outcome.next_change:
            print(f"  (this can change with no new event at {outcome.next_change.isoformat()})")
    return 0


def cmd_rules_apply(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from pipeline.control import estimate_members
    from pipeline.definitions.diff import diff
    from pipeline.definitions.topic import publish, read_definitions
    from pipeline.rules import load

    path = Path(args.path or settings.rules_dir)
    ruleset = load(path, _policy(settings))
    if not ruleset.ok:
        for error in ruleset.errors:
            print(f"  - {error}", file=sys.stderr)
        print("nothing applied: fix the problems above first", file=sys.stderr)
        return 1

    async def run() -> int:
        changes = diff(await read_definitions(settings), ruleset.definitions)
        kept = [] if args.prune else changes.removed
        if not args.prune:
            changes.removed = []
        for definition in kept:
            print(f"  {definition.id} {definition.name!r} is on the topic but not in {path}: kept "
                  "(created in the admin API?); --prune deletes it")
        if changes.empty:
            print(f"no changes: {settings.topic_definitions} already has everything in {path}")
            return 0
        estimates = await estimate_members(settings, [*changes.added, *changes.changed])
        for line, definition in changes.described():
            count = estimates.get(definition.id)
            print(f"{line}  -> {count}" if count else line)
        if args.dry_run:
            print("dry run: nothing published")
            return 0
        sent = await publish(settings, changes)
        print(f"published {sent} change(s) to {settings.topic_definitions}; "
              "workers back-fill new and changed dynamic groups now")
        return 0

    return asyncio.run(run())


def use_event_loop(settings: Settings) -> str:
    """Set the process's event loop policy before any loop exists (CG_UVLOOP); says which."""
    import asyncio

    if settings.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    return "asyncio"


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import logging

    from pipeline.assembly import build_worker
    from pipeline.stream.collector import tune_gc

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger(__name__).info("event loop: %s", use_event_loop(settings))
    worker = build_worker(settings)
    asyncio.run(worker.prepare_topics())
    logging.getLogger(__name__).info("gc thresholds: %s; batches frozen: %s (full collection every %.0f s)",
                                     tune_gc(settings), settings.gc_freeze_batches, settings.gc_reclaim_seconds)
    worker.main()
    return 0


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from pipeline.control import request_reconcile

    reports = asyncio.run(request_reconcile(settings, timeout=args.timeout))
    for r in sorted(reports, key=lambda r: r["partition"]):
        print(f"  partition {r['partition']}: {r['subjects']} subject(s) rewritten, "
              f"{r['stale_subject_keys']} stale key(s) and {r['stale_members']} stale member(s) removed")
    print(f"Redis rebuilt from the profile table ({sum(r['subjects'] for r in reports)} subjects)")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.demo import main as demo

    return demo(settings, serve=args.serve)


def cmd_schemas_export(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.export import SCHEMA_DIR, write

    for path in write(Path(args.out) if args.out else SCHEMA_DIR):
        print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.export.command import configure_logging, export_command

    configure_logging()
    return export_command(settings, groups=args.group or (), day=args.date, out=args.out, delta=args.delta)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="customer-groups", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rules = sub.add_parser("rules", help="check and explain group definitions").add_subparsers(
        dest="rules_command", required=True)
    check = rules.add_parser("check", help="validate rules_config/ files and explain any errors")
    check.add_argument("path", nargs="?", help="a file or folder (default: CG_RULES_DIR)")
    check.set_defaults(handler=cmd_rules_check)
    explain = rules.add_parser("explain", help="evaluate groups for a profile and say why")
    explain.add_argument("--profile", required=True,
                         help="JSON file ('-' for stdin): a list of events, or a stored profile")
    explain.add_argument("--group", help="group ID or name (default: every group)")
    explain.add_argument("--rules", help="rules file or folder (default: CG_RULES_DIR)")
    explain.add_argument("--now", help="evaluate as of this ISO time (default: now)")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(handler=cmd_rules_explain)

    apply = rules.add_parser("apply", help="publish rules_config/ to the definitions topic")
    apply.add_argument("path", nargs="?", help="a file or folder (default: CG_RULES_DIR)")
    apply.add_argument("--dry-run", action="store_true", help="show the changes, publish nothing")
    apply.add_argument("--prune", action="store_true",
                       help="also delete groups that are on the topic but not in the files")
    apply.set_defaults(handler=cmd_rules_apply)

    worker = sub.add_parser("worker", help="run a streaming worker (Kafka -> Faust -> Redis)")
    worker.set_defaults(handler=cmd_worker)

    reconcile = sub.add_parser("reconcile", help="rebuild Redis from the profile table, repairing drift")
    reconcile.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for workers")
    reconcile.set_defaults(handler=cmd_reconcile)

    demo = sub.add_parser("demo", help="run the pipeline on sample traffic and print the groups table")
    demo.add_argument("--serve", action="store_true",
                      help="then keep the worker running with the Customer Groups page at /admin/ until Ctrl-C")
    demo.set_defaults(handler=cmd_demo)

    exporter = sub.add_parser("export", help="write each group's members as CSV into a dated folder")
    exporter.add_argument("--group", action="append", metavar="ID",
                          help="export only this group (repeatable; default: every group)")
    exporter.add_argument("--date", metavar="YYYY-MM-DD", help="the folder's date (default: today in CG_SHOP_TIMEZONE)")
    exporter.add_argument("--out", metavar="DIR", help="base folder (default: CG_EXPORT_DIR)")
    exporter.add_argument("--delta", action="store_true",
                          help="also write who joined and who left since the previous export")
    exporter.set_defaults(handler=cmd_export)

    schemas = sub.add_parser("schemas", help="the event contract").add_subparsers(
        dest="schemas_command", required=True)
    export = schemas.add_parser("export", help="write JSON Schema files")
    export.add_argument("--out", help="folder (default: schemas/json)")
    export.set_defaults(handler=cmd_schemas_export)
    return parser


Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        settings = get_settings()
    except ValidationError as exc:  # say what is wrong, never echo the values (one is the admin token)
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            where = ".".join(str(part) for part in error["loc"])
            print(f"customer-groups: bad settings{f' ({where})' if where else ''}: {error['msg']}", file=sys.stderr)
        return 2
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
