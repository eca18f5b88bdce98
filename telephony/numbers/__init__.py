"""Phone number rules: what a user typed -> what the trunk dials, and caller ids -> E.164.

Shared by the Odoo addon and the engine, so nothing here imports Odoo. Three
layers, each on the one before:

- ``parser``: fast parsing of digit strings on ``phonenumbers``' metadata;
- ``rules``: the rule language (dial patterns, replace rules, banned codes);
- ``dialplan``: ``DialPlan``, the rules of one line, and its refusals;
- ``country``: numbers read in the country of the record that stores them.

Callers import from here (``from telephony.numbers import DialPlan``).
"""

from .dialplan import (
    DIRECTIONS,
    INTERNATIONAL,
    LOCAL,
    MOBILE,
    NATIONAL,
    REASON_BANNED,
    REASON_DIRECTION,
    REASON_EMPTY,
    REASON_INVALID,
    REASON_PATTERN,
    REFUSAL_MESSAGES,
    DialPlan,
    DialRefused,
    DialResult,
    normalize_incoming,
    normalize_stored,
)
from .country import prepare_in_country, reading_plan, to_e164
from .parser import MAX_DIGITS, MAX_INPUT_CHARS, MAX_SUBSCRIBER_DIGITS
from .rules import (
    MAX_RULE_CHARS,
    MAX_VARIABLE_REPEATS,
    PhonePattern,
    check_replace_rule,
    split_codes,
)

__all__ = [
    "DIRECTIONS",
    "INTERNATIONAL",
    "LOCAL",
    "MAX_DIGITS",
    "MAX_INPUT_CHARS",
    "MAX_RULE_CHARS",
    "MAX_SUBSCRIBER_DIGITS",
    "MAX_VARIABLE_REPEATS",
    "MOBILE",
    "NATIONAL",
    "REASON_BANNED",
    "REASON_DIRECTION",
    "REASON_EMPTY",
    "REASON_INVALID",
    "REASON_PATTERN",
    "REFUSAL_MESSAGES",
    "DialPlan",
    "DialRefused",
    "DialResult",
    "PhonePattern",
    "check_replace_rule",
    "normalize_incoming",
    "normalize_stored",
    "prepare_in_country",
    "reading_plan",
    "split_codes",
    "to_e164",
]
