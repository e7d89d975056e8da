"""Which groups a run of events can move: the nodes it changed, and only their groups.

Before a subject's events are folded, :meth:`Changes.before` notes what the
scalar nodes they reach see (a field's value, a consent); each counted event
notes the rows it added to (:meth:`Snapshot.count`); after the last,
:func:`moved` compares. A node whose answer today flipped, or whose future
changed (a rolling window's count moved, a date a relative date is compared
with moved), can move its groups; a node whose inputs did not change cannot,
and neither can a group all of whose nodes stand. So an event that views a
brand re-decides the few groups whose rows about that brand crossed a
threshold, not the hundreds that mention it, and a session of events of one
subject in one batch is decided once, after its last event, not per event.

Only for events that add to a profile (the processor's ``additive`` case:
nothing pruned or evicted, the stored groups are today's): then a behaviour
count that is the same today is the same on every later day, because the
added events are older than today's window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from pipeline.memo import Memo
from pipeline.profile import Profile
from pipeline.profile.model import Kind
from pipeline.rules.behaviour import Behaviour, window_days
from pipeline.rules.conditions import Compare
from pipeline.rules.index import phrases
from pipeline.rules.network import Buckets, Evaluation, RuleNetwork, buckets_of
from pipeline.rules.values import Duration

_NO_VALUES: Mapping[str, dict[int, int]] = MappingProxyType({})


# One behaviour row's nodes that share a window, by threshold:
# (its slot in Changes.windows, within, between, ((at_least, node), ...)).
Window = tuple[int, Duration | None, tuple[int, int] | None, tuple[tuple[int, int], ...]]
# Each window's (first, last) counted day on one day, by slot; None: not asked for yet that day.
Bounds = list[tuple[int | None, int | None] | None]
Signature = tuple[object, ...]
# The buckets a row sums, by kind (a profile lacks most kinds: one miss skips a kind's values), and the
# values whose whole words in a search query count too (None: no query counts); None for a row that
# sums by pattern (any value, or "contains"): ``_day_maps``.
Sums = tuple[tuple[tuple[Kind, tuple[str, ...]], ...], frozenset[str] | None] | None
# What one event adds to a row signature: (rows it sums, one of its nodes, its nodes by window, its sums).
Added = tuple[int, Behaviour, tuple[Window, ...], Sums]


# The rows' own arithmetic, shared with the evaluator (one package: these are its internals).
def _test(row: Compare, actual: object, today: int) -> bool:
    return row._test(actual, today)  # noqa: SLF001


def _counts(row: Behaviour, kind: tuple[str, str], value: str) -> bool:
    """Whether ``row`` sums the profile's ``kind``/``value`` bucket (as ``Behaviour._sum_days`` does)."""
    action, dimension = kind
    if action not in row.actions:
        return False
    if dimension == row.field.dimension:
        if not row.values:
            return True
        return row._matches(value, phrase=False) if row.contains else value in row.values  # noqa: SLF001
    return (action == "searched" and dimension == "query" and row.field.dimension in ("brand", "category")
            and bool(row.values) and row._matches(value, phrase=True))  # noqa: SLF001


@dataclass(slots=True)
class Snapshot:
    """What the nodes a run of additive events reaches saw before the run, and what it counted.

    The scalar nodes (fields, consent and staff records) are read before the
    first event is folded. Behaviour is not copied: each counted event notes,
    per row signature it sums, its local day and how many of its rows the
    signature sums (:meth:`count`); a window's count before the run is its
    count after less what the run added inside it.
    """

    fields: dict[str, tuple[tuple[int, Compare], ...]]  # scalar field name -> its nodes
    values: dict[str, object]  # scalar field name -> its value before the run
    others: dict[int, bool]  # consent and staff nodes -> their answer today before the run
    today: int  # the day the run is decided on
    bounds: Bounds  # the network's windows on ``today`` (shared by every snapshot of that day)
    added: dict[int, tuple[Behaviour, tuple[Window, ...], Sums, list[tuple[int, int]]]] = field(
        default_factory=dict)  # per signature (by its windows' identity): its node, windows, sums, (day, n)s

    def count(self, behaviour: tuple[Added, ...], day: int) -> None:
        """An event of local ``day`` was counted: each signature in ``behaviour`` gained its rows that day."""
        added = self.added
        for n, first, windows, sums in behaviour:
            entry = added.get(id(windows))
            if entry is None:
                added[id(windows)] = first, windows, sums, [(day, n)]
            else:
                entry[3].append((day, n))


class Changes:
    """One network's answer to "which nodes does this event reach", memoised per counted row."""

    def __init__(self, network: RuleNetwork) -> None:
        self.network = network
        by_signature: dict[Signature, list[tuple[int, Behaviour]]] = {}
        self.scalar_by_key: dict[str, list[tuple[int, Compare | None]]] = {}
        for number, node in enumerate(network.nodes):
            if isinstance(node, Behaviour):
                by_signature.setdefault(node.signature, []).append((number, node))
            else:
                for key in node.reads():
                    self.scalar_by_key.setdefault(key, []).append(
                        (number, node if isinstance(node, Compare) else None))
        self.signatures: dict[Signature, tuple[Behaviour, tuple[Window, ...], Sums]] = {}
        self.windows: list[tuple[Duration | None, tuple[int, int] | None]] = []
        for signature, members in by_signature.items():
            windows: dict[tuple[Duration | None, tuple[int, int] | None], list[tuple[int, int]]] = {}
            for number, node in members:
                windows.setdefault((node.within, node.between), []).append((node.at_least, number))
            slots = range(len(self.windows), len(self.windows) + len(windows))
            self.windows += windows
            self.signatures[signature] = members[0][1], tuple(
                (slot, w, b, tuple(sorted(ns))) for slot, ((w, b), ns) in zip(slots, windows.items(), strict=True)
            ), _sums(members[0][1])
        # window_days per window, once per day: hashing a Duration for day_back's cache took a
        # sixth of moved() with a thousand groups.
        self._bounds: tuple[int, Bounds] = (0, [])
        self._rows: Memo[tuple[Kind, str], tuple[Signature, ...]] = Memo()
        self._events: Memo[Buckets, tuple[Added, ...]] = Memo()
        self._scalars: Memo[frozenset[str], tuple[dict[str, tuple[tuple[int, Compare], ...]], tuple[int, ...]]] = Memo()

    def _row(self, kind: Kind, value: str) -> tuple[Signature, ...]:
        """The signatures that sum one counted row: those reading its keys, checked as ``_sum_days`` would."""
        found = self._rows.get((kind, value))
        if found is None:
            action, dimension = kind
            keys = {f"{action}:{dimension}:{value}", f"{action}:{dimension}:*"}
            if action == "searched" and dimension == "query":
                keys.add("searched:query:*")
                for phrase in phrases(value):
                    keys |= {f"searched:brand:{phrase}", f"searched:category:{phrase}"}
            by_key, nodes = self.network.by_key, self.network.nodes
            candidates = {nodes[n] for key in keys for n in by_key.get(key, ())}
            found = tuple({c.signature: None for c in candidates
                           if isinstance(c, Behaviour) and _counts(c, kind, value)})
            self._rows.put((kind, value), found)
        return found

    def behaviour(self, rows: Sequence[tuple[Kind, str]]) -> tuple[Added, ...]:
        """Per row signature that sums any of an event's counted ``rows``: how many it sums, and its nodes."""
        memo = tuple(rows)
        behaviour = self._events.get(memo)
        if behaviour is None:
            added: dict[Signature, int] = {}
            for kind, value in rows:
                for signature in self._row(kind, value):
                    added[signature] = added.get(signature, 0) + 1
            behaviour = tuple((n, *self.signatures[sig]) for sig, n in added.items())
            self._events.put(memo, behaviour)
        return behaviour

    def scalars(self, keys: frozenset[str]) -> tuple[dict[str, tuple[tuple[int, Compare], ...]], tuple[int, ...]]:
        """(scalar field name -> the nodes comparing it, consent and staff nodes) that ``keys`` reach."""
        scalars = self._scalars.get(keys)
        if scalars is None:
            fields: dict[str, list[tuple[int, Compare]]] = {}
            others: set[int] = set()
            for key in keys:
                for number, compare in self.scalar_by_key.get(key, ()):
                    if compare is None:
                        others.add(number)
                    elif (number, compare) not in fields.get(compare.field.name, ()):
                        fields.setdefault(compare.field.name, []).append((number, compare))
            scalars = {f: tuple(n) for f, n in fields.items()}, tuple(sorted(others))
            self._scalars.put(keys, scalars)
        return scalars

    def before(self, profile: Profile, keys: frozenset[str], today: int) -> Snapshot:
        """What the scalar nodes events with ``keys`` reach see before they are folded into ``profile``."""
        fields, others = self.scalars(keys)
        nodes = self.network.nodes
        values = {name: compares[0][1].field.extract(profile, compares[0][1].policy)
                  for name, compares in fields.items()}
        return Snapshot(fields, values, {n: nodes[n].holds(profile, today) for n in others}, today,
                        self.bounds(today))

    def bounds(self, today: int) -> Bounds:
        """The windows' counted days on ``today``, filled as :func:`moved` asks (one list per day)."""
        day, found = self._bounds
        if day != today or len(found) != len(self.windows):
            found = [None] * len(self.windows)
            self._bounds = today, found
        return found


def _sums(row: Behaviour) -> Sums:
    """What ``row`` sums, by bucket: its values under each of its actions, and for a search
    of brands or categories the queries that hold one of them as whole words."""
    exact = buckets_of(row)
    if exact is None and (not row.values or row.contains):
        return None
    by_kind: dict[Kind, tuple[str, ...]] = {}
    for kind, value in exact or (((action, row.field.dimension), value)
                                 for action in row.actions for value in sorted(row.values)):
        by_kind[kind] = (*by_kind.get(kind, ()), value)
    return tuple(by_kind.items()), (None if exact is not None else row.values)


@lru_cache(maxsize=1 << 16)
def _in_query(values: frozenset[str], query: str) -> bool:
    """``Behaviour._matches(query, phrase=True)``: one of ``values`` as whole words of ``query``.

    Remembered: the same few queries meet the same rows in every subject's profile.
    """
    padded = f" {query} "
    return any(f" {wanted} " in padded for wanted in values)


def _day_maps(row: Behaviour, profile: Profile) -> list[Mapping[int, int]]:
    """The profile's per-day buckets ``row`` sums (as ``Behaviour._sum_days`` does), not merged.

    A row over any brand (or any product, or a phrase) sums every bucket of its
    kind; merging them into one dict of days first cost more than the count
    itself, and :func:`moved` mostly stops counting after a few buckets.
    """
    dimension = row.field.dimension
    behaviour = profile.behaviour
    maps: list[Mapping[int, int]] = []
    for action in row.actions:
        known = behaviour.get((action, dimension), _NO_VALUES)
        if row.values and not row.contains:
            maps += [known[wanted] for wanted in row.values if wanted in known]
        elif not row.values:
            maps += known.values()
        else:
            maps += [days for value, days in known.items() if row._matches(value, phrase=False)]  # noqa: SLF001
        if action == "searched" and dimension in ("brand", "category") and row.values:
            maps += [days for query, days in behaviour.get(("searched", "query"), _NO_VALUES).items()
                     if row._matches(query, phrase=True)]  # noqa: SLF001
    return maps


def moved(before: Snapshot, ev: Evaluation) -> tuple[set[int], set[int]]:
    """(nodes whose answer today flipped, nodes whose answer stands but whose future moved).

    ``ev`` is the evaluation of the folded profile (inside its ``evaluation_scope``).
    Each counted event added one per row on its own day, so a window's count
    before the run is its count now less what the run added inside the window.
    A window's count stops once it reaches its highest threshold plus what the
    run added: from there every threshold held before the run and holds now,
    so none flipped, and an active subject's wide rows (any brand, any product)
    are not summed to the end.
    """
    profile, today = ev.profile, ev.today
    flipped: set[int] = set()
    retimed: set[int] = set()
    if before.added:
        answers = ev.now
        behaviour = profile.behaviour
        bounds: Bounds = before.bounds if before.today == today else [None] * len(before.bounds)
        for first, windows, sums, adds in before.added.values():
            # A run's adds and a row's counted buckets are a handful (about one each in the
            # bench's traffic): plain loops over them, not a generator per window.
            if sums is None:
                maps = _day_maps(first, profile)
            else:  # the row's own buckets: most profiles hold one or two of them
                kinds, phrases = sums
                maps = []
                for kind, values in kinds:
                    if (known := behaviour.get(kind)) is not None:
                        for value in values:
                            if (found := known.get(value)) is not None:
                                maps.append(found)
                if phrases is not None and (queries := behaviour.get(("searched", "query"))):
                    maps += [days for query, days in queries.items() if _in_query(phrases, query)]
            for slot, within, between, thresholds in windows:
                window = bounds[slot]
                if window is None:
                    window = bounds[slot] = window_days(within, between, today)
                low, high = window
                added = 0
                for day, n in adds:
                    if (low is None or day >= low) and (high is None or day <= high):
                        added += n
                if not added:
                    continue  # the run added nothing inside the window: no node here moved
                enough = thresholds[-1][0] + added  # from here no threshold flipped
                new = 0
                for days in maps:
                    for day, c in days.items():
                        if (low is None or day >= low) and (high is None or day <= high):
                            new += c
                            if new >= enough:
                                break
                    else:
                        continue
                    break
                old = new - added
                for at_least, number in thresholds:
                    now = new >= at_least
                    answers[number] = now
                    if old < at_least <= new:
                        flipped.add(number)
                    elif now and within is not None:
                        retimed.add(number)  # the day the row stops holding moved
    for name, compares in before.fields.items():
        first_c = compares[0][1]
        old_value = before.values[name]
        if first_c.field.extract(profile, first_c.policy) == old_value:
            continue
        for number, compare in compares:
            if ev.node(number, today) != _test(compare, old_value, today):
                flipped.add(number)
            elif compare.moving or any(isinstance(o, Duration) for o in compare.operands):
                retimed.add(number)  # compared with a date that moves: its change days may differ
    for number, was in before.others.items():
        if ev.node(number, today) != was:
            flipped.add(number)
    return flipped, retimed


def redecide(network: RuleNetwork, flipped: Iterable[int], retimed: Iterable[int], current: set[str],
             keys: frozenset[str] | None) -> list[str]:
    """The groups that moved nodes could move, in ID order.

    With ``keys`` (an event on a stored profile), a member of a group no event
    with those keys can end keeps it, and its own next-change day can only be
    later than the stored one (:mod:`pipeline.rules.monotone`). A group whose
    nodes only moved their future needs deciding again only if time can move
    it from where it is.
    """
    plans, readers = network.plans, network.readers
    chosen: set[str] = set()
    for number in flipped:
        chosen.update(readers[number])
    for number in retimed:
        for gid in readers[number]:
            if gid in chosen:
                continue
            gp = plans[gid]
            if gp.time_can_leave if gid in current else gp.time_can_join:
                chosen.add(gid)
    if keys is None:
        return sorted(chosen)
    return sorted(gid for gid in chosen if gid not in current or plans[gid].group.can_leave_on & keys)
