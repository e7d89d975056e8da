"""encode()/decode(): exact round trips, a small footprint, clear errors."""

from __future__ import annotations

import random
import uuid
import zlib
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.profile import (
    ACTIONS,
    CODEC_VERSION,
    DIMENSIONS,
    ConsentRecord,
    OrderRecord,
    OrderStats,
    Profile,
    ProfileDecodeError,
    ProfilePolicy,
    StaffRecord,
    Stamped,
    decode,
    encode,
    new_profile,
)

from .builders import T0, basket, event_lists, fold_all, identify, order, search, signup, view

instants = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
texts = st.text(max_size=12)
ids = st.text(min_size=1, max_size=12)
u64 = st.integers(0, 2**64 - 1)
days = st.integers(700_000, 760_000)


def stamped(values):
    return st.builds(Stamped, values, instants, ids)


profiles = st.builds(
    Profile,
    subject=st.sampled_from(["c:", "v:"]).flatmap(lambda p: ids.map(lambda i: p + i)),
    customer_id=st.none() | ids,
    customer_stamp=st.none() | st.tuples(instants, ids),
    visitor_ids=st.sets(ids, max_size=3),
    email=st.none() | stamped(texts),
    first_name=st.none() | stamped(texts),
    last_name=st.none() | stamped(texts),
    date_joined=st.none() | stamped(st.dates()),
    consents=st.dictionaries(ids, st.builds(ConsentRecord, st.booleans(), instants, texts, st.none() | ids, ids),
                             max_size=3),
    staff_groups=st.dictionaries(ids, st.builds(StaffRecord, st.booleans(), instants, texts, ids, ids), max_size=3),
    orders=st.builds(OrderStats, st.dictionaries(
        u64, st.builds(OrderRecord, instants, st.integers(0, 10**15), st.none() | st.sampled_from(["EUR", "JPY"])),
        max_size=4)),
    behaviour=st.dictionaries(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from(DIMENSIONS)),
        st.dictionaries(texts, st.dictionaries(days, st.integers(1, 10**6), max_size=3), max_size=3),
        max_size=4,
    ),
    seen=st.dictionaries(days, st.sets(u64, max_size=4), max_size=3),
    newest_day=st.none() | days,
    last_seen=st.none() | instants,
    groups=st.sets(ids, max_size=3),
)


@given(profiles)
def test_round_trip_of_any_profile(profile: Profile) -> None:
    data = encode(profile)
    assert decode(data) == profile
    assert encode(decode(data)) == data  # and the encoding is canonical


@given(events=event_lists(max_size=40), seed=st.integers())
def test_round_trip_of_folded_profiles_and_equal_profiles_give_equal_bytes(events, seed) -> None:
    policy = ProfilePolicy(retention_days=30)
    profile = fold_all(new_profile("c:42"), events, policy)
    assert decode(encode(profile)) == profile
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    assert encode(fold_all(new_profile("c:42"), shuffled, policy)) == encode(profile)


def typical_profile() -> Profile:
    """A customer over 60 days: signup, a login, 40 views over 10 brands and 30 products in
    12 sessions, 5 searches, 3 basket adds, 2 orders. Event IDs are UUIDs as a storefront sends."""
    rng = random.Random(7)
    policy = ProfilePolicy()
    brands = ["Sony", "Samsung", "LG", "Stressless", "Bosch", "Philips", "Dyson", "Apple", "Lego", "Nike"]
    categories = ["Televisions", "Furniture", "Kitchen", "Toys", "Audio"]
    catalogue = [(f"SKU-{100000 + i * 7919}", brands[i % 10], categories[i % 5]) for i in range(30)]
    sessions = sorted(rng.sample(range(60), 12))

    def at(k: int) -> datetime:
        return T0 + timedelta(days=sessions[k % 12], minutes=rng.randrange(600))

    def eid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128)))

    kw = {"customer_id": "100234", "visitor_id": "7f9c2a41-3b1e-4c55-9d0a-2e6f81b4c3d7"}
    events = [signup(public_groups=["1", "3"], event_id=eid(), at=T0, first_name="Ann", last_name="Smith",
                     email="ann.smith@example.co.uk", **kw),
              identify(event_id=eid(), at=T0, **kw)]
    for i in range(40):
        p, b, c = catalogue[i % 30]
        events.append(view(p, b, c, event_id=eid(), at=at(i), **kw))
    for i, q in enumerate(["sony tv", "oled 55 inch", "recliner chair", "lego technic", "coffee machine"]):
        events.append(search(q, event_id=eid(), at=at(i * 2), **kw))
    for i in range(3):
        p, b, c = catalogue[i * 4]
        events.append(basket(p, b, c, event_id=eid(), at=at(i * 3), **kw))
    events.append(order([(*catalogue[0], 1)], total="899.00", order_id="100001", event_id=eid(), at=at(3), **kw))
    events.append(order([(*catalogue[4], 1), (*catalogue[8], 2)], total="1249.99", order_id="100002",
                        event_id=eid(), at=at(9), **kw))
    profile = fold_all(new_profile("c:100234"), events, policy)
    assert len({v for v in profile.values("viewed", "product")}) == 30
    assert len(profile.values("viewed", "brand")) == 10
    assert profile.orders.count == 2 and profile.count("searched", "query", "sony tv") == 1
    profile.groups = {"1", "3", "12", "20"}
    return profile


def test_a_typical_profile_fits_in_2kb() -> None:
    profile = typical_profile()
    data = encode(profile)
    plain = orjson.dumps(document_of(data))
    print(f"\ntypical profile: {len(data)} bytes encoded ({len(plain)} bytes before compression)")
    assert decode(data) == profile
    assert len(data) <= 2048


def decode_plain(data: bytes) -> bytes:
    """The orjson document of a plain or zlib layout."""
    return zlib.decompress(data[1:]) if data[:1] == b"\x01" else data


def split(data: bytes) -> tuple[bytes, bytes]:
    """(head document, stored tail) of the split layout."""
    assert data[:1] == b"\x02"
    size = int.from_bytes(data[1:5], "big")
    return data[5:5 + size], data[5 + size:]


def document_of(data: bytes) -> dict:  # type: ignore[type-arg]
    """The whole document inside encoded bytes, whatever the layout."""
    if data[:1] != b"\x02":
        return orjson.loads(decode_plain(data))  # type: ignore[no-any-return]
    head, tail = split(data)
    return {**orjson.loads(head), **orjson.loads(decode_plain(tail))}


def test_small_profiles_stay_readable_json() -> None:
    profile = fold_all(new_profile("v:vis-1"), [view()], ProfilePolicy())
    head, tail = split(encode(profile))
    doc = orjson.loads(head)
    assert doc["v"] == CODEC_VERSION and doc["s"] == "v:vis-1"
    assert doc["nd"] == ProfilePolicy().day_of(T0)
    assert "b" not in doc and "h" not in doc
    assert orjson.loads(tail)["b"]["vb"] == {"sony": [0, 1]}  # (day offset from newest_day, count)
    signed_up = fold_all(new_profile("c:42"), [signup()], ProfilePolicy())
    assert orjson.loads(encode(signed_up))["s"] == "c:42"  # no behaviour: one plain document


def test_large_profiles_are_compressed() -> None:
    head, tail = split(encode(typical_profile()))
    assert orjson.loads(head)["s"] == "c:100234" and tail[:1] == b"\x01"


def test_a_partial_read_never_parses_the_tail() -> None:
    """The split layout's point: a back-fill over scalar fields parses the head alone."""
    profile = typical_profile()
    head, _ = split(encode(profile))
    broken = b"\x02" + len(head).to_bytes(4, "big") + head + b"\x01not zlib"
    light = decode(broken, reads=frozenset({"activity", "orders", "profile", "consent", "staff"}))
    assert (light.last_seen, light.orders, light.email, light.visitor_ids) == (
        profile.last_seen, profile.orders, profile.email, profile.visitor_ids)
    assert light.behaviour == {} and light.seen == {}
    with pytest.raises(ProfileDecodeError):
        decode(broken)  # everything: the tail is read


@given(st.sampled_from([b"{", b"\x01"]))
def test_the_earlier_layouts_still_decode(first: bytes) -> None:
    """Values written before the split layout (one document, plain or zlib) read the same."""
    profile = typical_profile()
    raw = orjson.dumps(document_of(encode(profile)), option=orjson.OPT_SORT_KEYS)
    old = raw if first == b"{" else b"\x01" + zlib.compress(raw)
    assert decode(old) == profile
    assert decode(old, reads=frozenset({"activity"})).last_seen == profile.last_seen


def earlier_decode(data: bytes) -> dict:  # type: ignore[type-arg]
    """What a worker before the split layout read (pipeline/profile/codec.py at 6c04f4d~1):
    the first byte ``{`` (the document) or ``\\x01`` (zlib of it), anything else refused."""
    if data[:1] == b"\x01":
        data = zlib.decompress(data[1:])
    elif data[:1] != b"{":
        raise ProfileDecodeError("not an encoded profile")
    return orjson.loads(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize("profile", [typical_profile(), fold_all(new_profile("v:vis-1"), [view()], ProfilePolicy())],
                         ids=["large", "small"])
def test_the_whole_layout_is_what_workers_before_the_split_one_read(profile: Profile) -> None:
    """CG_PROFILE_LAYOUT=whole (a rolling update from such workers): one document, as they wrote it."""
    whole = encode(profile, split=False)
    assert earlier_decode(whole) == document_of(encode(profile))
    assert decode(whole) == profile
    with pytest.raises(ProfileDecodeError):
        earlier_decode(encode(profile))  # what the split layout would do to them


def test_unknown_keys_are_ignored() -> None:
    profile = fold_all(new_profile("c:42"), [signup(), view(customer_id="42")], ProfilePolicy())
    doc = document_of(encode(profile))
    doc["zz"] = {"added": "by a later version"}
    assert decode(orjson.dumps(doc)) == profile


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"[1,2]", b"{", b'{"v":1}', b'{"v":"1","s":"c:1"}', b"\x01not zlib",
     b'{"v":1,"s":"c:1","h":[0,"abc"]}', b'{"v":1,"s":"c:1","e":["a@b",5]}',
     b"\x02", b"\x02\x00\x00", b"\x02\x00\x00\x00\x09{\"v\":1}", b'\x02\x00\x00\x00\x11{"v":1,"s":"c:1"}[1]',
     b'\x02\x00\x00\x00\x11{"v":1,"s":"c:1"}\x01no'],
)
def test_corrupt_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(ProfileDecodeError):
        decode(data)


def test_a_newer_format_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ProfileDecodeError, match="newer"):
        decode(orjson.dumps({"v": CODEC_VERSION + 1, "s": "c:1"}))


def test_instants_keep_microseconds_and_come_back_in_utc() -> None:
    at = datetime(2025, 3, 30, 1, 59, 59, 999_999, tzinfo=UTC)
    profile = new_profile("c:1")
    profile.last_seen = at
    profile.date_joined = Stamped(date(2025, 3, 30), at, "e")
    back = decode(encode(profile))
    assert back.last_seen == at and back.last_seen.tzinfo is UTC
    assert back == profile
