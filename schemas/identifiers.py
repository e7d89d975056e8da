"""One ID policy for every ID the pipeline stores, keys Redis by or exports.

An ID ends up in a Redis key (``cg:s:{c:<customer_id>}``, whose braces are the
Redis Cluster hash tag), in a CSV cell, in a log line and in a URL path. So
every **customer, visitor, product, event, order and staff ID** is:

* 1 to :data:`MAX_ID_LENGTH` characters;
* no white space of any kind;
* no control characters (C0 ``U+0000``-``U+001F`` including NUL and the
  separators ``U+001C``-``U+001F``, DEL, C1 ``U+0080``-``U+009F``), and none
  of the invisible format characters that make two IDs look alike
  (``U+200B``-``U+200F``, ``U+2028``-``U+202E``, ``U+2060``-``U+2064``,
  ``U+FEFF``);
* no braces ``{`` ``}``: one would end a Redis Cluster hash tag early, so one
  subject's keys could land in different slots.

Anything else (letters in any script, digits, punctuation, ``@``, ``:``) is
allowed: shops use e-mail addresses and UUIDs as IDs.

**Group IDs** are stricter, because staff type them into rules and URLs:
1 to :data:`MAX_GROUP_ID_LENGTH` of ``A-Z a-z 0-9 _ . : -``.

The same patterns are in the JSON Schema (``schemas/json/``) so a storefront
in any language can check before it sends; the event contract, the admin API
and the exporter all use this module, so they can never disagree.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

MAX_ID_LENGTH = 128
MAX_GROUP_ID_LENGTH = 64

#: Characters an ID may not contain (a regex character class body), valid in
#: Python ``re``, the Rust ``regex`` crate pydantic uses, and ECMA-262.
FORBIDDEN_ID_CHARS = r"\s\x00-\x1f\x7f-\x9f{}\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff"
ID_PATTERN = rf"^[^{FORBIDDEN_ID_CHARS}]+$"
GROUP_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"

#: Free text (names, search text, brands): any characters but control ones.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"

Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
GroupId = Annotated[str, Field(min_length=1, max_length=MAX_GROUP_ID_LENGTH, pattern=GROUP_ID_PATTERN)]

_FORBIDDEN = re.compile(f"[{FORBIDDEN_ID_CHARS}]")


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid ID, or None when it is (for logs, manifests and 422s)."""
    if not value:
        return "empty"
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        return f"contains the forbidden character U+{ord(bad.group()):04X} at position {bad.start()}"
    return None


def is_valid_id(value: str) -> bool:
    return id_problem(value) is None


def all_valid_ids(values: list[str]) -> bool:
    """True when every ID is valid: one regex pass over the lot (the exporter's fast path)."""
    return (all(0 < len(v) <= MAX_ID_LENGTH for v in values)
            and _FORBIDDEN.search("".join(values)) is None)
