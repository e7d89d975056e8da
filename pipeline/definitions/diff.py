"""What a ``rules apply`` would change: the difference between the topic's definitions and a folder's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.registry import fingerprint
from schemas.groups import GroupDefinition


@dataclass
class DefinitionsDiff:
    added: list[GroupDefinition] = field(default_factory=list)
    changed: list[GroupDefinition] = field(default_factory=list)  # rules or type changed
    renamed: list[GroupDefinition] = field(default_factory=list)  # only name/description changed
    removed: list[GroupDefinition] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.renamed or self.removed)

    def described(self) -> list[tuple[str, GroupDefinition]]:
        out = [(f"+ {d.id} {d.type} {d.name!r}", d) for d in self.added]
        out += [(f"~ {d.id} {d.type} {d.name!r} (rules changed)", d) for d in self.changed]
        out += [(f"~ {d.id} {d.type} {d.name!r} (name or description)", d) for d in self.renamed]
        out += [(f"- {d.id} {d.type} {d.name!r}", d) for d in self.removed]
        return out

    def lines(self) -> list[str]:
        return [line for line, _ in self.described()]


def diff(current: dict[str, GroupDefinition], wanted: Iterable[GroupDefinition]) -> DefinitionsDiff:
    result = DefinitionsDiff()
    wanted_by_id = {d.id: d for d in wanted}
    for gid, new in sorted(wanted_by_id.items()):
        old = current.get(gid)
        if old is None:
            result.added.append(new)
        elif fingerprint(old) != fingerprint(new):
            result.changed.append(new)
        elif old != new:
            result.renamed.append(new)
    result.removed = [d for gid, d in sorted(current.items()) if gid not in wanted_by_id]
    return result
