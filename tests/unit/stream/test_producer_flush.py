"""The producer buffer's flush: it waits for every message and never forgets one that failed.

Faust resolves a buffered message's future with the error when the producer
gives up on it (``Topic._on_published``) and only logs it. Before the override
kept failures, a flush that started after the failure returned, and Faust
committed past a table write missing from its changelog (faust_compat, "A lost
message is never forgotten"). Here the buffer is a stand-in and the messages
futures the test resolves; tests/integration/test_faust_overrides.py has the
real broker refusing a record.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types.tuples import FutureMessage

from pipeline.stream import faust_compat
from pipeline.stream.faust_compat import SendLost, flush_until_empty, put_tracked


class _Buffer:
    """What put_tracked and flush_until_empty use of a ProducerBuffer."""

    state = "running"


def _message(topic: str) -> FutureMessage:
    channel = SimpleNamespace(get_topic_name=lambda: topic)
    return FutureMessage(SimpleNamespace(channel=channel))  # type: ignore[arg-type]  # a stand-in message


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, BaseException]]:
    """The buffer's real queue is not needed; what the listeners are told is collected."""
    monkeypatch.setattr(faust_compat, "UPSTREAM_PUT", lambda buffer, fut: None)
    heard: list[tuple[Any, BaseException]] = []
    monkeypatch.setattr(faust_compat, "send_lost_listeners", [lambda buffer, fut, exc: heard.append((fut, exc))])
    return heard


async def _settled() -> None:
    await asyncio.sleep(0)  # the futures' done-callbacks run


async def test_a_message_that_failed_before_the_flush_makes_every_later_flush_raise(
        told: list[tuple[Any, BaseException]]) -> None:
    buffer = _Buffer()
    written, refused = _message("cg-profiles-changelog"), _message("cg-profiles-changelog")
    put_tracked(buffer, written)  # type: ignore[arg-type]  # the stand-in buffer
    put_tracked(buffer, refused)  # type: ignore[arg-type]
    error = RuntimeError("MessageSizeTooLargeError")
    written.set_result(None)
    refused.set_exception(error)
    await _settled()
    for _ in range(2):  # for good: no later commit may pass it either
        with pytest.raises(SendLost, match="cg-profiles-changelog: RuntimeError: MessageSizeTooLargeError") as raised:
            await flush_until_empty(buffer)  # type: ignore[arg-type]
        assert raised.value.__cause__ is error
    assert told == [(refused, error)]  # told once, at once (the worker exits)


async def test_a_message_that_fails_while_the_flush_waits_makes_it_raise(
        told: list[tuple[Any, BaseException]]) -> None:
    buffer = _Buffer()
    message = _message("cg-identity-changelog")
    put_tracked(buffer, message)  # type: ignore[arg-type]
    flush = asyncio.ensure_future(flush_until_empty(buffer))  # type: ignore[arg-type]
    await _settled()
    assert not flush.done()  # waits for the broker's answer
    message.set_exception(TimeoutError("producer_request_timeout spent"))
    with pytest.raises(SendLost, match="cg-identity-changelog"):
        await asyncio.wait_for(flush, 5)
    assert len(told) == 1


async def test_a_cancelled_message_makes_the_flush_raise_without_telling_the_listeners(
        told: list[tuple[Any, BaseException]]) -> None:
    buffer = _Buffer()
    message = _message("cg-profiles-changelog")
    put_tracked(buffer, message)  # type: ignore[arg-type]
    message.cancel()  # Faust stopping: the record was never sent, and nothing may be committed
    await _settled()
    with pytest.raises(SendLost, match="cancelled"):
        await flush_until_empty(buffer)  # type: ignore[arg-type]
    assert told == []


async def test_the_flush_returns_once_every_message_was_acknowledged(
        told: list[tuple[Any, BaseException]]) -> None:
    buffer = _Buffer()
    messages = [_message("cg-profiles-changelog") for _ in range(3)]
    for message in messages:
        put_tracked(buffer, message)  # type: ignore[arg-type]
    flush = asyncio.ensure_future(flush_until_empty(buffer))  # type: ignore[arg-type]
    for message in messages:
        await _settled()
        assert not flush.done()
        message.set_result(None)
    await asyncio.wait_for(flush, 5)
    assert told == []
    await flush_until_empty(buffer)  # type: ignore[arg-type]  # nothing left, nothing lost
