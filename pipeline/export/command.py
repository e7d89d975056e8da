"""``customer-groups export``: settings, definitions and Redis in; a dated folder and a summary out."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from pipeline.settings import Settings

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` only: the folder name must be unambiguous."""
    if not _DAY.match(text):
        raise ValueError(f"--date must be YYYY-MM-DD, got {text!r}")
    return date.fromisoformat(text)


def shop_today(settings: Settings, now: datetime | None = None) -> date:
    """Today in the shop's time zone: a run at 00:30 local belongs to the new day."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(settings.shop_timezone)).date()


def export_command(settings: Settings, groups: Sequence[str] = (), day: str | None = None,
                   out: str | None = None, delta: bool = False, stderr: TextIO | None = None) -> int:
    """Run one export; 0 on success, 2 for a bad request, 1 when another export is running."""
    from pipeline.definitions.topic import read_definitions
    from pipeline.export.job import ExportRequest, UnknownGroups, run_export
    from pipeline.export.progress import make_progress
    from pipeline.export.source import MemberSource, connect
    from pipeline.export.writer import ExportBusy
    from pipeline.store.keys import KeySpace

    stderr = stderr or sys.stderr
    try:
        the_day = parse_day(day) if day else shop_today(settings)
    except ValueError as exc:
        print(exc, file=stderr)
        return 2
    request = ExportRequest(base=Path(out) if out else settings.export_dir, day=the_day,
                            groups=tuple(groups), delta=delta)
    definitions = asyncio.run(read_definitions(settings))
    redis = connect(settings)
    try:
        result = run_export(MemberSource(redis, KeySpace(settings.redis_prefix)), definitions, request,
                            make_progress(stderr))
    except UnknownGroups as exc:
        print(exc, file=stderr)
        return 2
    except ExportBusy as exc:
        print(exc, file=stderr)
        return 1
    finally:
        redis.close()
    print(f"{result.folder}")
    print(f"  {'group':<8} {'type':<8} {'kind':<8} {'rows':>10} {'guests':>8}  file")
    for entry in result.files:
        print(f"  {entry['group_id']:<8} {entry['group_type']:<8} {entry['kind']:<8} {entry['rows']:>10,} "
              f"{entry['anonymous_guests']:>8,}  {entry['file']}")
    return 0


def configure_logging() -> None:
    """Progress and results at INFO; the Kafka client's chatter only when something is wrong."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
