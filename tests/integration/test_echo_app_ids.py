"""tests.integration.echo_app.event_id: which payloads carry an id (pure; no servers)."""

import pytest

from tests.integration.echo_app import event_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": "e-1", "type": "order"}', "e-1"),
        (b'{"id": 42}', "42"),
        (b'{"id": null}', None),
        (b'{"other": 1}', None),
        (b"[1, 2]", None),
        (b"not json", None),
        (b"", None),
        (None, None),
    ],
)
def test_event_id(raw: bytes | None, expected: str | None) -> None:
    assert event_id(raw) == expected
