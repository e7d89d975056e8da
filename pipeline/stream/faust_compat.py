"""The one place that reaches into Faust's internals, and why.

Faust decides which changelog partition a table write goes to from the
*current event*, a context variable it sets while an agent iterates a stream.
``stream.take_events()`` (batching, which the profile stage needs so Redis is
written once per batch, not once per event) consumes the stream in another
task, so inside the batch there is no current event and table writes raise.
Upstream: faust-streaming issues #497 and #300. We set the variable to each
event of the batch while handling it. faust-streaming is pinned in
``constraints.txt``; ``tests/integration`` fails loudly if this stops working.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Iterator

from faust.streams import _current_event
from faust.types import EventT


@contextmanager
def event_context(event: EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
