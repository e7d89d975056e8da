"""The bulk writer's packing: byte for byte what redis-py itself sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

from pipeline.store.bulk import BulkReplyError, pack

ARG = st.one_of(st.text(max_size=40), st.binary(max_size=40), st.integers(-10**12, 10**12))
COMMAND = st.tuples(st.sampled_from(["SADD", "SREM", "DEL", "SET", "HSET"]), ARG, ARG)


@given(st.lists(COMMAND, max_size=30))
def test_pack_is_what_redis_py_sends(commands: list[tuple[object, ...]]) -> None:
    python = PythonRespSerializer(buffer_cutoff=1 << 30, encode=Encoder("utf-8", "strict", False).encode)
    expected = b"".join(b"".join(python.pack(*command)) for command in commands)
    assert pack(commands) == expected


def test_a_refusal_names_the_command_and_key() -> None:
    error = BulkReplyError(("SADD", "cg:s:{c:1}", "12"), Exception("WRONGTYPE Operation against a key"))
    assert str(error) == "WRONGTYPE Operation against a key (command 'SADD' on 'cg:s:{c:1}')"
