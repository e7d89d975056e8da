"""A group narrowed while events flow leaves no stale member (``make faults`` has the longer case).

Group 12 starts broad (anyone who viewed any brand) and is narrowed to its real rules
while the storefront sends; the whole Redis state at the end must equal a run that had
the real rules throughout: the back-fill and the events after the change re-decide
every member, and nobody the broad definition took in stays unless the real one matches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faults.cases import NARROWED_GROUP, narrowed_group
from faults.compare import against_reference
from faults.state import diff
from faults.traffic import traffic
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings
from pipeline.store.keys import KeySpace

RULES = Path(__file__).parents[2] / "rules_config"


@pytest.mark.timeout(600)
async def test_a_group_narrowed_mid_stream_ends_as_if_narrow_from_the_start(
        base_settings: Settings, tmp_path: Path) -> None:
    definitions = load(RULES, ProfilePolicy.from_settings(base_settings)).definitions
    records = traffic(6000, seed=7, cookies=600, customers=200)
    async with against_reference(base_settings, tmp_path, "t-narrowed", narrowed_group, records, definitions,
                                 seed=7, produce_seconds=15) as runs:
        keys = KeySpace(runs.reference.settings.redis_prefix)
        taken_in = sum([await runs.redis.scard(keys.members(NARROWED_GROUP, anonymous)) for anonymous in (False, True)])
        assert taken_in > 20  # the real rules take some in
        result = diff(runs.expected, runs.got)
        assert result.exact, result.describe(runs.expected, runs.got)
