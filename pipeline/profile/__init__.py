"""The profile model: the compact, serialisable state of one subject.

A subject is a registered customer (``c:<customer_id>``) or an anonymous cookie
visitor (``v:<visitor_id>``). Events fold into its profile
(:func:`fold`), a visitor's profile merges into a customer's at login
(:func:`merge`), and the rule evaluator reads it (:class:`Profile` queries).
Pure Python: no Kafka, Redis or clock, so every property is testable.
"""

from pipeline.profile.codec import CODEC_VERSION, ProfileDecodeError, decode, encode
from pipeline.profile.fold import add_visitor, behaviour_rows, counted, cutoff_day, fold, merge, merge_hash, prune
from pipeline.profile.model import (
    ACTIONS,
    DIMENSIONS,
    Action,
    ConsentRecord,
    Dimension,
    Kind,
    OrderRecord,
    OrderStats,
    Profile,
    StaffRecord,
    Stamped,
    id_hash,
    new_profile,
    normalise,
    subject_for,
)
from pipeline.profile.policy import ProfilePolicy, minor_digits, to_minor

__all__ = [
    "ACTIONS",
    "CODEC_VERSION",
    "DIMENSIONS",
    "Action",
    "ConsentRecord",
    "Dimension",
    "Kind",
    "OrderRecord",
    "OrderStats",
    "Profile",
    "ProfileDecodeError",
    "ProfilePolicy",
    "StaffRecord",
    "Stamped",
    "add_visitor",
    "behaviour_rows",
    "counted",
    "cutoff_day",
    "decode",
    "encode",
    "fold",
    "id_hash",
    "merge",
    "merge_hash",
    "minor_digits",
    "new_profile",
    "normalise",
    "prune",
    "subject_for",
    "to_minor",
]
