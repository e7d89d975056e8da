"""A subject's change of membership, as plain data: what the Redis writer makes visible.

The processor decides it (:attr:`pipeline.processor.Result.change`); the writer
(:mod:`pipeline.store.writer`) turns it into Redis commands. Neither knows the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MembershipChange:
    joined: frozenset[str] = frozenset()
    left: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()
    """Groups the subject leaves because it is gone (erased, or merged into a customer)."""
    delete: bool = False
    """The subject is gone: its own key and its mirrors' keys are removed."""
    mirrors: tuple[str, ...] = ()
    """Cookie subjects that mirror a customer's groups."""
    reset_mirrors: tuple[str, ...] = ()
    """Cookie subjects whose mirror is rewritten whole (and linked to the customer)."""
    groups: tuple[str, ...] = ()
    """The subject's groups after the change, what a reset mirror is set to (given with ``reset_mirrors`` only)."""

    @property
    def visible(self) -> bool:
        """Whether Redis has anything to change."""
        return bool(self.joined or self.left or self.dropped or self.reset_mirrors or self.delete)
