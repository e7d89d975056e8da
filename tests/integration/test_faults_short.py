"""A short run of the fault suite inside ``make test`` (the full one is ``make faults``).

Login-heavy traffic (hand-overs, merges, duplicates, unkeyed events), one real
worker process SIGKILLed twice while it processes and restarted: the whole
Redis state must equal an uninterrupted run of the same events.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from faults.cases import sigkill
from faults.compare import against_reference
from faults.state import diff
from faults.traffic import traffic
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings

RULES = Path(__file__).parents[2] / "rules_config"


@pytest.mark.timeout(600)
async def test_sigkills_with_logins_end_exactly_as_an_uninterrupted_run(
        base_settings: Settings, tmp_path: Path) -> None:
    definitions = load(RULES, ProfilePolicy.from_settings(base_settings)).definitions
    records = traffic(8000, seed=3, cookies=800, customers=250)
    async with against_reference(base_settings, tmp_path, "t-sigkill", partial(sigkill, kills=2), records,
                                 definitions, seed=3, produce_seconds=12) as runs:
        assert runs.expected.count("l") > 100 and runs.expected.count("d") > 50  # logins and customers happened
        result = diff(runs.expected, runs.got)
        assert result.exact, result.describe(runs.expected, runs.got)
