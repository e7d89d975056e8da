"""The profile stage: everything re-keyed to its subject's partition.

Logged-in events, hand-overs, merges, re-checks, and the control messages of
:mod:`pipeline.stream.maintenance` (back-fill, reconcile), all in one ordered
stream per partition, so maintenance never interleaves with a live event for
the same subjects. Each batch is a :class:`~pipeline.stream.profile_batch.ProfileBatch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.stream import envelope
from pipeline.stream.context import StageContext
from pipeline.stream.effects import Effects
from pipeline.stream.maintenance import Maintenance
from pipeline.stream.profile_batch import ProfileBatch, in_cookie_profile


class ProfileStage:
    def __init__(self, ctx: StageContext, effects: Effects, maintenance: Maintenance) -> None:
        self.ctx = ctx
        self.effects = effects
        self.maintenance = maintenance

    async def run(self, stream: Any) -> None:
        await self.ctx.ready.wait()
        await self.effects.run_batches(stream, "profiles", self.batch)

    async def batch(self, events: Sequence[Any]) -> None:
        ctx = self.ctx
        async with ctx.lock:
            work = ProfileBatch(ctx, self.effects, "profiles", ctx.now())
            for event in events:
                for subject, value in envelope.entries_of(event.key, event.value):
                    await self._entry(work, event, subject, value)
            await work.commit()

    async def _entry(self, work: ProfileBatch, event: Any, subject: str, value: bytes) -> None:
        """One message of a record (a record may bundle many, each for its subject)."""
        ctx = self.ctx
        message = envelope.decode(value)
        if isinstance(message, (envelope.Sync, envelope.Reconcile)):
            await work.commit()  # what came before, before the partition-wide work
            if isinstance(message, envelope.Sync):
                await self.maintenance.backfill(event, message.partition)
            else:
                await self.maintenance.reconcile(message)
            return
        if isinstance(message, bytes) and subject.startswith("v:"):
            # An anonymous event re-keyed to its cookie before the cookie's login was
            # handled, arriving after it: it belongs to the customer now, as it would
            # had it arrived first and moved with the hand-over. Same partition as the
            # cookie's identity entry, so the answer does not depend on timing.
            linked = ctx.identity.get(subject[2:], event)
            if linked:
                if not in_cookie_profile(ctx, subject[2:], message, event):
                    work.forward_event(f"c:{linked}", message)
                return
        await work.handle(subject, message, event)  # type: ignore[arg-type]  # Forget: identity stage only
