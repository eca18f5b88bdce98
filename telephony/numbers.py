"""Phone number rules: what a user typed -> what the trunk dials, and caller ids -> E.164.

Shared by the Odoo addon and the engine, so nothing here imports Odoo.

Region knowledge comes from the ``phonenumbers`` metadata, but the hot path does
not call ``phonenumbers.parse`` / ``number_type``: for a string already reduced
to ASCII digits their generic free-text and unicode handling costs more than the
whole per-call budget (parse alone is ~75 us).  ``_parse_digits``,
``_number_type`` and ``_region_and_type`` are lean ports of the corresponding
library steps over precompiled per-region tables; the test-suite checks them
against the library itself.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

try:  # Python >= 3.11
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

__all__ = [
    "DIRECTIONS",
    "INTERNATIONAL",
    "LOCAL",
    "MOBILE",
    "NATIONAL",
    "DialPlan",
    "DialRefused",
    "REFUSAL_MESSAGES",
    "DialResult",
    "PhonePattern",
    "check_replace_rule",
    "normalize_incoming",
    "normalize_stored",
    "split_codes",
]

LOCAL = "local"
NATIONAL = "national"
MOBILE = "mobile"
INTERNATIONAL = "international"
DIRECTIONS = frozenset({LOCAL, NATIONAL, MOBILE, INTERNATIONAL})

# Refusal reasons carried by DialRefused.reason.
REASON_EMPTY = "empty"
REASON_INVALID = "invalid"
REASON_BANNED = "banned"
REASON_DIRECTION = "direction"
REASON_PATTERN = "pattern"

MAX_INPUT_CHARS = 256
"""Raw text longer than this is refused before any work is done on it."""
MAX_DIGITS = 64
"""Digits left after cleanup; caps the input of every regex run per call."""
MAX_SUBSCRIBER_DIGITS = 8
"""Without a local length, only numbers up to this long may be local ones
(subscriber numbers are at most 8 digits in practice: Berlin, London, Beijing)."""
MAX_RULE_CHARS = 200
MAX_VARIABLE_REPEATS = 3
"""Variable-length repetitions allowed in a replace rule (keeps backtracking
polynomial of low degree on <= 64 characters)."""

_CACHE_SIZE = 4096
_MIN_NSN = 2  # phonenumbers._MIN_LENGTH_FOR_NSN
_MAX_NSN = 17  # phonenumbers._MAX_LENGTH_FOR_NSN
_NON_GEO_REGION = "001"

# Every refusal message, by code: the addon translates the same codes, with
# the same parameters (``{number}``, ``{code}``, ``{digits}``).
REFUSAL_MESSAGES = {
    "empty": "The phone number is empty.",
    "invalid": "{number} is not a valid phone number.",
    "local_length": "Local numbers must have {digits} digits.",
    "banned": "Calls to {code} are not allowed.",
    "direction_local": "Local calls are not allowed.",
    "direction_national": "Long-distance calls are not allowed.",
    "direction_mobile": "Calls to mobile numbers are not allowed.",
    "direction_international": "International calls are not allowed.",
    "replace_empty": "The trunk's replace rule leaves nothing to dial for {number}.",
    "pattern": "{number} does not match the dial patterns of this line.",
}

# Separators people type or paste inside numbers: whitespace, dashes, dots,
# brackets, slashes (including the unicode dashes and spaces word processors
# produce).
_SEPARATORS = dict.fromkeys(
    map(
        ord,
        " \t\r\n\f\v\xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
        "\u2009\u200a\u200b\u202f\u205f\u3000"
        "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
        ".()[]{}/",
    )
)
_ASCII_SEPARATORS = bytes(c for c in _SEPARATORS if c < 128)
_CLEAN_NUMBER = re.compile(r"\+?[0-9]+")
_CODE_LIST_SPLIT = re.compile(r"[,;\n]")


class DialRefused(Exception):
    """A number the plan will not dial.

    ``reason`` is the machine-readable kind (``REASON_*``), ``code`` the key of
    its message in ``REFUSAL_MESSAGES`` and ``params`` the values it names;
    ``message`` is that message in English.
    """

    def __init__(self, reason: str, code: str, params: Mapping[str, str] | None = None) -> None:
        super().__init__(reason, code, dict(params or {}))
        self.reason = reason
        self.code = code
        self.params = dict(params or {})
        self.message = REFUSAL_MESSAGES[code].format(**self.params)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DialResult:
    """What ``DialPlan.prepare`` decided for one number.

    ``national`` (the number formatted the way its own country writes it) is
    computed on first access: formatting costs more than the rest of
    ``prepare`` and most callers never need it.
    """

    e164: str
    direction: str
    dial: str
    region: str | None
    """Region of the number (``"RU"``, ``"US"``, ``"001"`` for non-geographic
    numbers, ``None`` when the metadata cannot tell)."""

    @functools.cached_property
    def national(self) -> str:
        number = phonenumbers.parse(self.e164)
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)


# --------------------------------------------------------------------------
# Region tables
# --------------------------------------------------------------------------

_TOO_SHORT = "too_short"
_TOO_LONG = "too_long"
_POSSIBLE = "possible"
_LOCAL_ONLY = "local_only"
_INVALID_LENGTH = "invalid_length"

_Desc = tuple[frozenset[int], str]
"""Possible lengths (empty: any) and national number pattern of a number type."""


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    """Compile once: metadata patterns are big and shared by lengths/regions."""
    return re.compile(pattern)


def _desc(desc: Any) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length or ()), desc.national_number_pattern


class _Region:
    """Precompiled metadata of one region (or non-geographic calling code)."""

    __slots__ = (
        "region",
        "country_code",
        "country_code_str",
        "general",
        "possible_lengths",
        "local_only_lengths",
        "national_prefix",
        "national_prefix_parser",
        "transform_rule",
        "idd",
        "leading_digits",
        "special_types",
        "fixed_line",
        "mobile",
        "same_fixed_and_mobile",
        "type_tables",
    )

    def __init__(self, region: str, metadata: PhoneMetadata) -> None:
        self.region = region
        self.country_code: int = metadata.country_code
        self.country_code_str = str(metadata.country_code)
        general = metadata.general_desc
        pattern = general.national_number_pattern if general is not None else None
        self.general = _regex(pattern) if pattern else None
        self.possible_lengths: tuple[int, ...] = tuple(
            general.possible_length if general is not None else ()
        )
        self.local_only_lengths = frozenset(
            general.possible_length_local_only if general is not None else ()
        )
        self.national_prefix: str = metadata.national_prefix or ""
        parsing = metadata.national_prefix_for_parsing
        self.national_prefix_parser = re.compile(parsing) if parsing else None
        self.transform_rule: str | None = metadata.national_prefix_transform_rule or None
        self.idd = (
            re.compile(metadata.international_prefix) if metadata.international_prefix else None
        )
        leading = metadata.leading_digits
        self.leading_digits = re.compile(leading) if leading else None
        # Same order as phonenumbers' _number_type_helper.
        specials = (
            (PhoneNumberType.PREMIUM_RATE, metadata.premium_rate),
            (PhoneNumberType.TOLL_FREE, metadata.toll_free),
            (PhoneNumberType.SHARED_COST, metadata.shared_cost),
            (PhoneNumberType.VOIP, metadata.voip),
            (PhoneNumberType.PERSONAL_NUMBER, metadata.personal_number),
            (PhoneNumberType.PAGER, metadata.pager),
            (PhoneNumberType.UAN, metadata.uan),
            (PhoneNumberType.VOICEMAIL, metadata.voicemail),
        )
        self.special_types = tuple(
            (number_type, described)
            for number_type, desc in specials
            if (described := _desc(desc)) is not None
        )
        self.fixed_line = _desc(metadata.fixed_line)
        self.mobile = _desc(metadata.mobile)
        self.same_fixed_and_mobile = bool(metadata.same_mobile_and_fixed_line_pattern)
        self.type_tables: dict[int, tuple[re.Pattern[str] | None, tuple[int, ...]]] = {}

    def type_table(self, length: int) -> tuple[re.Pattern[str] | None, tuple[int, ...]]:
        """One regex deciding the type of a number of this length.

        It requires the general pattern (a lookahead) and then tries, in
        _number_type_helper's order, every type whose possible lengths include
        ``length``; the first alternative that fully matches wins and
        ``lastgroup`` tells which.  One regex call instead of about ten.
        """
        table = self.type_tables.get(length)
        if table is None:
            candidates = [*self.special_types, (PhoneNumberType.FIXED_LINE, self.fixed_line)]
            if not self.same_fixed_and_mobile:
                candidates.append((PhoneNumberType.MOBILE, self.mobile))
            types: list[int] = []
            branches: list[str] = []
            for number_type, desc in candidates:
                if desc is not None and (not desc[0] or length in desc[0]):
                    branches.append(f"(?P<t{len(types)}>{desc[1]})")
                    types.append(number_type)
            regex = None
            if self.general is not None and branches:
                regex = _regex(f"(?=(?:{self.general.pattern})\\Z)(?:{'|'.join(branches)})")
            table = self.type_tables.setdefault(length, (regex, tuple(types)))
        return table


@functools.cache
def _region_data(region: str) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    return _Region(region, metadata) if metadata is not None else None


@functools.cache
def _calling_code_data(country_code: int) -> _Region | None:
    """Metadata phonenumbers uses for a calling code: its main region's, or the
    non-geographic entity's (+800, +882...)."""
    region = phonenumbers.region_code_for_country_code(country_code)
    if region != _NON_GEO_REGION:
        return _region_data(region)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    return _Region(region, metadata) if metadata is not None else None


def _matches_general(number: str, data: _Region) -> bool:
    return data.general is not None and data.general.fullmatch(number) is not None


def _matches_desc(nsn: str, desc: _Desc | None) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return _regex(pattern).fullmatch(nsn) is not None


def _length_verdict(nsn: str, data: _Region) -> str:
    """Port of phonenumbers' _test_number_length for the general description."""
    length = len(nsn)
    if length in data.local_only_lengths:
        return _LOCAL_ONLY
    lengths = data.possible_lengths
    if not lengths:
        return _INVALID_LENGTH
    if lengths[0] == length:
        return _POSSIBLE
    if lengths[0] > length:
        return _TOO_SHORT
    if lengths[-1] < length:
        return _TOO_LONG
    return _POSSIBLE if length in lengths[1:] else _INVALID_LENGTH


def _number_type(nsn: str, data: _Region) -> int:
    """Port of phonenumbers' _number_type_helper (see _Region.type_table)."""
    regex, types = data.type_table(len(nsn))
    match = regex.fullmatch(nsn) if regex is not None else None
    if match is None:
        return PhoneNumberType.UNKNOWN
    number_type = types[int(match.lastgroup[1:])]  # type: ignore[index]
    if number_type == PhoneNumberType.FIXED_LINE and (
        data.same_fixed_and_mobile or _matches_desc(nsn, data.mobile)
    ):
        return PhoneNumberType.FIXED_LINE_OR_MOBILE
    return number_type


def _region_and_type(country_code: int, nsn: str) -> tuple[str | None, int]:
    """Region and type of a number, as region_code_for_number + number_type.

    The number is valid (phonenumbers.is_valid_number) exactly when the region
    is not None and the type is not UNKNOWN.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    if len(regions) == 1:
        data = _calling_code_data(country_code)
        if data is None:
            return None, PhoneNumberType.UNKNOWN
        return regions[0], _number_type(nsn, data)
    for region in regions:
        data = _region_data(region)
        if data is None:
            continue
        if data.leading_digits is not None:
            if data.leading_digits.match(nsn):
                return region, _number_type(nsn, data)
        else:
            number_type = _number_type(nsn, data)
            if number_type != PhoneNumberType.UNKNOWN:
                return region, number_type
    return None, PhoneNumberType.UNKNOWN


# --------------------------------------------------------------------------
# Parsing (port of phonenumbers.parse for ASCII digit strings)
# --------------------------------------------------------------------------


def _extract_country_code(digits: str) -> tuple[int, str]:
    if not digits or digits[0] == "0":
        return 0, digits
    for size in range(1, min(len(digits), 3) + 1):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return country_code, digits[size:]
    return 0, digits


def _strip_idd(digits: str, data: _Region) -> str | None:
    """The digits after the region's international access code, if dialled."""
    if data.idd is None:
        return None
    match = data.idd.match(digits)
    if match is None:
        return None
    rest = digits[match.end() :]
    if rest[:1] == "0":  # country codes never start with 0
        return None
    return rest


def _strip_national_prefix(number: str, data: _Region) -> str:
    """Port of phonenumbers' _maybe_strip_national_prefix_carrier_code."""
    parser = data.national_prefix_parser
    if not number or parser is None:
        return number
    match = parser.match(number)
    if match is None:
        return number
    viable_original = _matches_general(number, data)
    groups = match.groups()
    if data.transform_rule is None or not groups or groups[-1] is None:
        stripped = number[match.end() :]
    else:
        stripped = parser.sub(data.transform_rule, number, count=1)
    if viable_original and not _matches_general(stripped, data):
        return number
    return stripped


def _split_country_code(digits: str, plus: bool, home: _Region) -> tuple[int, str] | None:
    """Port of phonenumbers' _maybe_extract_country_code; country code 0 means
    "the home region's"; None means phonenumbers would raise."""
    if plus:
        if len(digits) <= _MIN_NSN:
            return None
        country_code, rest = _extract_country_code(digits)
        if country_code:
            return country_code, rest
        # phonenumbers retries without the plus sign and keeps the result only
        # if that finds a country code.
        retry = _split_country_code(digits, False, home)
        return retry if retry is not None and retry[0] else None
    rest = _strip_idd(digits, home)
    if rest is not None:
        if len(rest) <= _MIN_NSN:
            return None
        country_code, rest = _extract_country_code(rest)
        return (country_code, rest) if country_code else None
    code = home.country_code_str
    if digits.startswith(code):
        potential = _strip_national_prefix(digits[len(code) :], home)
        if (
            not _matches_general(digits, home) and _matches_general(potential, home)
        ) or _length_verdict(digits, home) == _TOO_LONG:
            return home.country_code, potential
    return 0, digits


def _parse_digits(digits: str, plus: bool, home: _Region) -> tuple[int, str] | None:
    """(country code, national significant number) exactly as
    ``phonenumbers.parse("+" * plus + digits, home.region)`` finds them, or None
    where it would raise."""
    if not plus and len(digits) < _MIN_NSN:
        return None
    split = _split_country_code(digits, plus, home)
    if split is None:
        return None
    country_code, nsn = split
    if country_code == 0:
        country_code, data = home.country_code, home
    elif phonenumbers.region_code_for_country_code(country_code) == home.region:
        data = home
    else:
        data = _calling_code_data(country_code)
        if data is None:  # pragma: no cover - every listed code has metadata
            return None
    if len(nsn) < _MIN_NSN:
        return None
    potential = _strip_national_prefix(nsn, data)
    if potential != nsn and _length_verdict(potential, data) not in (
        _TOO_SHORT,
        _LOCAL_ONLY,
        _INVALID_LENGTH,
    ):
        nsn = potential
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN:
        return None
    return country_code, nsn


def _clean(raw: object) -> str | None:
    """``"+digits"`` / ``"digits"`` without separators, ``""`` for blank input,
    None for anything that is not a phone number."""
    if raw is None or raw is False:  # Odoo's empty field value is False
        return ""
    if not isinstance(raw, str):
        return None
    if len(raw) > MAX_INPUT_CHARS:
        return None
    if raw.isascii():  # bytes.translate is several times faster than str.translate
        cleaned = raw.encode().translate(None, _ASCII_SEPARATORS).decode()
    else:
        cleaned = raw.translate(_SEPARATORS)
    if not cleaned:
        return ""
    if len(cleaned) > MAX_DIGITS + 1 or not _CLEAN_NUMBER.fullmatch(cleaned):
        return None
    return cleaned


def _shown(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 32 else text[:31] + "\u2026"


# --------------------------------------------------------------------------
# Dial patterns and replace rules
# --------------------------------------------------------------------------

_PATTERN_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}
_PATTERN_LITERAL = re.compile(r"[0-9*#+]+")


def _pattern_to_regex(text: str) -> str:
    if not text:
        raise ValueError("A dial pattern cannot be empty.")
    if not text.startswith("_"):
        literal = text.replace(" ", "").replace("-", "")
        if not _PATTERN_LITERAL.fullmatch(literal):
            raise ValueError(
                f"Dial pattern {text!r} is not valid: a pattern without a leading '_' "
                "is a literal number (digits, '*', '#', '+')."
            )
        return re.escape(literal)
    parts: list[str] = []
    body = text[1:]
    index = 0
    while index < len(body):
        char = body[index]
        position = index + 2  # 1-based position in `text`
        if char in " -":  # Asterisk ignores dashes; spaces are for readability
            pass
        elif char in "0123456789*#+":
            parts.append(re.escape(char))
        elif char.upper() in _PATTERN_CLASSES:
            parts.append(_PATTERN_CLASSES[char.upper()])
        elif char == "[":
            end = body.find("]", index + 1)
            if end < 0:
                raise ValueError(
                    f"Dial pattern {text!r} has an unclosed '[' at position {position}."
                )
            parts.append(_pattern_set(text, body[index + 1 : end], position))
            index = end
        elif char in ".!":
            if body[index + 1 :].strip(" -"):
                raise ValueError(
                    f"Dial pattern {text!r} is not valid: {char!r} matches the rest of "
                    "the number, so it must be the last character."
                )
            parts.append(".+" if char == "." else ".*")
        else:
            raise ValueError(
                f"Dial pattern {text!r} has an unexpected character {char!r} at "
                f"position {position}; use digits, X, Z, N, [...], '.' or '!'."
            )
        index += 1
    if not parts:
        raise ValueError(f"Dial pattern {text!r} has nothing after '_'.")
    return "".join(parts)


def _pattern_set(text: str, content: str, position: int) -> str:
    """A ``[...]`` set of a dial pattern, e.g. ``[1-5]`` or ``[137]``."""
    if not content:
        raise ValueError(f"Dial pattern {text!r} has an empty '[]' at position {position}.")
    items: list[str] = []
    index = 0
    while index < len(content):
        low = content[index]
        if low not in "0123456789":
            raise ValueError(
                f"Dial pattern {text!r}: '[...]' at position {position} may only hold "
                f"digits and ranges like 1-5, not {low!r}."
            )
        if content[index + 1 : index + 2] == "-":
            high = content[index + 2 : index + 3]
            if not high or high not in "0123456789" or high < low:
                raise ValueError(
                    f"Dial pattern {text!r}: bad range in '[{content}]' at position {position}."
                )
            items.append(f"{low}-{high}")
            index += 3
        else:
            items.append(low)
            index += 1
    return "[" + "".join(items) + "]"


class PhonePattern:
    """An Asterisk-style dial pattern, compiled once.

    ``_`` starts a pattern: X = any digit, Z = 1-9, N = 2-9, ``[1-5]`` /
    ``[137]`` sets, ``.`` one or more characters and ``!`` zero or more (both
    only at the end, as in Asterisk, which also keeps matching linear).
    Dashes and spaces are ignored.  Without ``_`` the text is a literal number.
    ``matches`` is a full match of the dial string.
    """

    __slots__ = ("text", "regex")

    def __init__(self, text: str) -> None:
        if isinstance(text, PhonePattern):
            text = text.text
        if not isinstance(text, str):
            raise ValueError(f"A dial pattern must be text, not {type(text).__name__}.")
        self.text = text.strip()
        self.regex = re.compile(_pattern_to_regex(self.text))

    def matches(self, dial: str) -> bool:
        return self.regex.fullmatch(dial) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhonePattern) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"PhonePattern({self.text!r})"


def _split_rule(rule: str) -> tuple[str, str] | None:
    """Split at the first "/" that is not escaped by a backslash."""
    index = 0
    while index < len(rule):
        char = rule[index]
        if char == "\\":
            index += 2
            continue
        if char == "/":
            return rule[:index], rule[index + 1 :]
        index += 1
    return None


_REPEAT_OPS = {
    op
    for op in (
        getattr(_sre_parse, "MAX_REPEAT", None),
        getattr(_sre_parse, "MIN_REPEAT", None),
        getattr(_sre_parse, "POSSESSIVE_REPEAT", None),
    )
    if op is not None
}


class _UnsafeRegex(ValueError):
    pass


def _audit_regex(items: Any, in_repeat: bool, budget: list[int]) -> None:
    """Refuse regex shapes whose backtracking can explode: a variable repetition
    or an alternation inside a repetition, back-references, too many
    variable-length repetitions.  Conservative on purpose."""
    for op, value in items:
        name = getattr(op, "name", str(op))
        if op in _REPEAT_OPS:
            low, high, body = value
            if low != high:
                if in_repeat:
                    raise _UnsafeRegex(
                        'nests repetitions (like "(a+)+"), which can take exponential time'
                    )
                budget[0] += 1
                if budget[0] > MAX_VARIABLE_REPEATS:
                    raise _UnsafeRegex(
                        f"has more than {MAX_VARIABLE_REPEATS} variable-length repetitions"
                    )
            _audit_regex(body, in_repeat or high > 1, budget)
        elif name == "BRANCH":
            if in_repeat:
                raise _UnsafeRegex(
                    'repeats an alternation (like "(a|b)*"); use a character class '
                    'such as "[ab]*" instead'
                )
            for alternative in value[1]:
                _audit_regex(alternative, in_repeat, budget)
        elif name == "SUBPATTERN":
            _audit_regex(value[-1], in_repeat, budget)
        elif name in ("ASSERT", "ASSERT_NOT"):
            _audit_regex(value[1], in_repeat, budget)
        elif name == "ATOMIC_GROUP":
            _audit_regex(value, in_repeat, budget)
        elif name.startswith("GROUPREF"):
            raise _UnsafeRegex("uses a back-reference, which is not supported")


def check_replace_rule(rule: str) -> tuple[re.Pattern[str], str]:
    """Compile a trunk replace rule ``"N/M"`` (regex N, replacement M).

    The first "/" not escaped by a backslash splits N from M; ``\\/`` in M is a
    literal "/"; M may use ``\\1`` group references.  Raises ValueError with a
    message for the admin when the rule is malformed or its regex could
    backtrack for long (refused conservatively).
    """
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError('A replace rule cannot be empty; write it as "pattern/replacement".')
    return _compile_replace_rule(rule.strip())


@functools.lru_cache(maxsize=256)
def _compile_replace_rule(rule: str) -> tuple[re.Pattern[str], str]:
    if len(rule) > MAX_RULE_CHARS:
        raise ValueError(
            f"The replace rule is too long ({len(rule)} characters, at most {MAX_RULE_CHARS})."
        )
    split = _split_rule(rule)
    if split is None:
        raise ValueError(
            f'The replace rule "{rule}" has no "/": write it as pattern/replacement, e.g. "^7/8".'
        )
    pattern_text, replacement = split
    if not pattern_text:
        raise ValueError(f'The replace rule "{rule}" has nothing before "/".')
    try:
        regex = re.compile(pattern_text)
        tree = _sre_parse.parse(pattern_text)
    except re.error as error:
        raise ValueError(
            f'The replace rule pattern "{pattern_text}" is not a valid regular '
            f"expression: {error.msg}."
        ) from None
    try:
        _audit_regex(tree, False, [0])
    except _UnsafeRegex as unsafe:
        raise ValueError(f'The replace rule pattern "{pattern_text}" {unsafe}.') from None
    replacement = re.sub(r"\\(.)", lambda m: "/" if m[1] == "/" else m[0], replacement)
    try:
        regex.sub(replacement, "")  # compiles the template: bad escapes, group refs
    except (re.error, IndexError) as error:
        detail = getattr(error, "msg", str(error))
        raise ValueError(
            f'The replacement "{replacement}" does not fit the pattern "{pattern_text}": {detail}.'
        ) from None
    return regex, replacement


def split_codes(codes: str | Iterable[str] | None) -> tuple[str, ...]:
    """Banned code entries from a list or a "+7, 8" string, separators removed.

    Raises ValueError for an entry that is not an optional "+" and digits.
    """
    if not codes:
        return ()
    entries = _CODE_LIST_SPLIT.split(codes) if isinstance(codes, str) else list(codes)
    result: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"A banned code must be text, not {type(entry).__name__}.")
        cleaned = entry.translate(_SEPARATORS)
        if not cleaned:
            continue
        if not _CLEAN_NUMBER.fullmatch(cleaned):
            raise ValueError(
                f'Banned code "{entry.strip()}" is not valid: use digits with an '
                'optional leading "+", e.g. "+1" or "8".'
            )
        if cleaned not in result:
            result.append(cleaned)
    return tuple(result)


def _split_words(value: str | Iterable[str] | None, separators: str) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [word.strip() for word in re.split(separators, value) if word.strip()]
    return list(value)


# --------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DialPlan:
    """Dialling rules of one line/trunk, precompiled; immutable and hashable.

    Construction validates everything (ValueError with an admin-readable
    message), so the addon can call it from a settings constraint.
    ``banned_codes``, ``patterns`` and ``allowed_directions`` accept a list or a
    comma-separated string; they are stored normalised (tuple / frozenset).
    """

    region: str
    city_code: str = ""
    exit_prefix: str = ""
    banned_codes: tuple[str, ...] = ()
    local_length: int | None = None
    patterns: tuple[PhonePattern, ...] = ()
    allowed_directions: frozenset[str] = DIRECTIONS
    replace: str = ""

    _home: _Region = field(init=False, repr=False, compare=False)
    _patterns_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _replace_rule: tuple[re.Pattern[str], str] | None = field(init=False, repr=False, compare=False)
    _prepare_cached: Any = field(init=False, repr=False, compare=False)
    _normalize_cached: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        region = (self.region or "").strip().upper() if isinstance(self.region, str) else ""
        home = _region_data(region) if region in phonenumbers.SUPPORTED_REGIONS else None
        if home is None:
            raise ValueError(f"Unknown region {self.region!r}: use an ISO code such as 'RU'.")
        put("region", region)
        put("_home", home)

        for name in ("city_code", "exit_prefix"):
            value = getattr(self, name) or ""
            value = value.translate(_SEPARATORS) if isinstance(value, str) else value
            if (
                not isinstance(value, str)
                or (value and not value.isascii())
                or (value and not value.isdigit())
            ):
                label = name.replace("_", " ")
                raise ValueError(f"The {label} must be digits only, got {value!r}.")
            put(name, value)

        put("banned_codes", split_codes(self.banned_codes))

        local_length = self.local_length or None
        if local_length is not None and (
            isinstance(local_length, bool)
            or not isinstance(local_length, int)
            or not 1 <= local_length <= _MAX_NSN
        ):
            raise ValueError(f"The local number length must be 1 to {_MAX_NSN}.")
        put("local_length", local_length)

        patterns = _split_words(self.patterns, r"[,;\n]")
        compiled = tuple(dict.fromkeys(PhonePattern(p) for p in patterns))
        put("patterns", compiled)
        joined = "|".join(f"(?:{pattern.regex.pattern})" for pattern in compiled)
        put("_patterns_regex", re.compile(joined) if compiled else None)

        directions = frozenset(
            word.lower() for word in _split_words(self.allowed_directions, r"[,;\s]+")
        )
        if self.allowed_directions is None:
            directions = DIRECTIONS
        unknown = directions - DIRECTIONS
        if unknown:
            raise ValueError(
                f"Unknown call direction(s) {', '.join(sorted(unknown))}: "
                f"use {', '.join(sorted(DIRECTIONS))}."
            )
        put("allowed_directions", directions)

        replace = self.replace.strip() if isinstance(self.replace, str) else ""
        put("replace", replace)
        put("_replace_rule", check_replace_rule(replace) if replace else None)

        put("_prepare_cached", functools.lru_cache(maxsize=_CACHE_SIZE)(self._prepare_uncached))
        put(
            "_normalize_cached",
            functools.lru_cache(maxsize=_CACHE_SIZE)(self._normalize_uncached),
        )

    # -- construction helpers ------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> DialPlan:
        """Build a plan from a settings mapping (Odoo record values welcome).

        Keys: ``region`` (or ``country``), ``city_code``, ``exit_prefix``,
        ``banned_codes``, ``local_length``, ``patterns``, ``allowed_directions``,
        ``replace``.  Falsy values (Odoo's ``False``) mean "not set"; other keys
        are ignored.
        """

        def get(*keys: str) -> Any:
            for key in keys:
                value = settings.get(key)
                if value not in (None, False, ""):
                    return value
            return None

        directions = get("allowed_directions")
        try:
            local_length = int(get("local_length") or 0) or None
        except (TypeError, ValueError):
            raise ValueError("The local number length must be a whole number.") from None
        return cls(
            region=get("region", "country") or "",
            city_code=str(get("city_code") or ""),
            exit_prefix=str(get("exit_prefix") or ""),
            banned_codes=get("banned_codes") or (),
            local_length=local_length,
            patterns=get("patterns") or (),
            allowed_directions=DIRECTIONS if directions is None else directions,
            replace=get("replace") or "",
        )

    def with_replace(self, rule: str | None) -> DialPlan:
        """The same plan with a trunk's replace rule (ValueError if it is bad)."""
        return dataclasses.replace(self, replace=rule or "")

    # -- public API ----------------------------------------------------------

    def prepare(self, raw: str, allow_international: bool = False) -> DialResult:
        """Turn what a user typed into what the trunk dials, or raise DialRefused.

        ``allow_international`` lets this call go abroad even when the plan does
        not allow international calls (a per-user permission).
        """
        cleaned = _clean(raw)
        if not cleaned:
            if cleaned is None:
                raise DialRefused(REASON_INVALID, "invalid", {"number": _shown(raw)})
            raise DialRefused(REASON_EMPTY, "empty")
        outcome = self._prepare_cached(cleaned, bool(allow_international))
        if isinstance(outcome, DialResult):
            return outcome
        raise DialRefused(*outcome)

    def normalize(self, raw: object) -> str | None:
        """E.164 form of a caller id / stored phone, or None; never raises."""
        cleaned = _clean(raw)
        if not cleaned:
            return None
        return self._normalize_cached(cleaned)

    # -- internals -----------------------------------------------------------

    def _strip_exit_prefix(self, digits: str) -> str | None:
        """Digits after an international access code other than the region's
        own (handled by the parser): the configured exit prefix, and "00" (the
        most common habit) where the region's trunk prefix is not 0 and the
        digits are not a valid national number anyway."""
        exit_prefix = self.exit_prefix
        if exit_prefix and digits.startswith(exit_prefix):
            rest = digits[len(exit_prefix) :]
            if rest and rest[0] != "0":
                return rest
        if (
            digits.startswith("00")
            and not self._home.national_prefix.startswith("0")
            and digits[2:3] not in ("", "0")
            and not self._is_home_valid(_parse_digits(digits, False, self._home))
        ):
            return digits[2:]
        return None

    def _check(self, country_code: int, nsn: str) -> tuple[str | None, int] | None:
        """(region, type) of an acceptable number, else None.

        Acceptable: possible (phonenumbers.is_possible_number) and, in the home
        calling code, valid.  A length that is only possible for local dialling
        (+1 555 0100) must be valid wherever the number is from.
        """
        data = _calling_code_data(country_code)
        if data is None:
            return None
        verdict = _length_verdict(nsn, data)
        if verdict != _POSSIBLE and verdict != _LOCAL_ONLY:
            return None
        region, number_type = _region_and_type(country_code, nsn)
        if (country_code == self._home.country_code or verdict == _LOCAL_ONLY) and (
            region is None or number_type == PhoneNumberType.UNKNOWN
        ):
            return None
        parser = data.national_prefix_parser
        if parser is not None and parser.match(nsn):
            # "+<code><nsn>" would lose what looks like a trunk prefix when read
            # back (+31 0000000 -> +31 000000): no stable E.164 form, refuse.
            code = str(country_code)
            if _parse_digits(code + nsn, True, self._home) != (country_code, nsn):
                return None
        return region, number_type

    def _is_home_valid(self, parsed: tuple[int, str] | None) -> bool:
        """Whether a parse result is a valid number of the home calling code."""
        return (
            parsed is not None
            and parsed[0] == self._home.country_code
            and self._check(*parsed) is not None
        )

    def _locate(self, cleaned: str) -> tuple[int, str] | tuple[str, dict[str, str]]:
        """(country code, NSN) the user meant, or an "invalid" refusal (code, params)."""
        home = self._home
        plus = cleaned[0] == "+"
        digits = cleaned[1:] if plus else cleaned
        invalid = ("invalid", {"number": cleaned})
        if not plus:
            abroad = self._strip_exit_prefix(digits)
            if abroad is not None:
                digits, plus = abroad, True
        national = (
            not plus
            and _strip_idd(digits, home) is None
            and not (home.national_prefix and digits.startswith(home.national_prefix))
        )
        if national and self.local_length:
            if len(digits) == self.local_length and self.city_code:
                digits = self.city_code + digits
            elif len(digits) < self.local_length + len(self.city_code):
                return "local_length", {"digits": str(self.local_length)}
        elif national and self.city_code and len(digits) <= MAX_SUBSCRIBER_DIGITS:
            with_city = _parse_digits(self.city_code + digits, False, home)
            if with_city is not None and self._is_home_valid(with_city):
                as_dialled = _parse_digits(digits, False, home)
                # Where the trunk prefix is 0, dialling without it always means local.
                if (
                    home.national_prefix == "0"
                    or as_dialled is None
                    or not self._is_home_valid(as_dialled)
                ):
                    return with_city
                return as_dialled
        parsed = _parse_digits(digits, plus, home)
        return parsed if parsed is not None else invalid

    def _direction(self, country_code: int, nsn: str, region: str | None, number_type: int) -> str:
        home = self._home
        if country_code != home.country_code or region != home.region:
            return INTERNATIONAL
        if number_type == PhoneNumberType.MOBILE:
            return MOBILE
        if self.city_code and nsn.startswith(self.city_code):
            return LOCAL
        if number_type == PhoneNumberType.FIXED_LINE_OR_MOBILE:
            return MOBILE
        return NATIONAL

    def _prepare_uncached(
        self, cleaned: str, allow_international: bool
    ) -> DialResult | tuple[str, str, dict[str, str]]:
        located = self._locate(cleaned)
        if isinstance(located[0], str):
            return (REASON_INVALID, *located)
        country_code, nsn = located
        checked = self._check(country_code, nsn)
        if checked is None:
            return REASON_INVALID, "invalid", {"number": cleaned}
        region, number_type = checked
        e164 = f"+{country_code}{nsn}"
        if country_code != self._home.country_code and self.exit_prefix:
            dial = f"{self.exit_prefix}{country_code}{nsn}"
        else:
            dial = e164[1:]

        for code in self.banned_codes:
            if e164.startswith(code) if code[0] == "+" else dial.startswith(code):
                return REASON_BANNED, "banned", {"code": code}

        direction = self._direction(country_code, nsn, region, number_type)
        if direction not in self.allowed_directions and not (
            direction == INTERNATIONAL and allow_international
        ):
            return REASON_DIRECTION, f"direction_{direction}", {}

        if self._replace_rule is not None:
            regex, replacement = self._replace_rule
            dial = regex.sub(replacement, dial, count=1)
            if not dial:
                return REASON_PATTERN, "replace_empty", {"number": e164}
        if self._patterns_regex is not None and not self._patterns_regex.fullmatch(dial):
            return REASON_PATTERN, "pattern", {"number": e164}
        return DialResult(e164=e164, direction=direction, dial=dial, region=region)

    def _normalize_uncached(self, cleaned: str) -> str | None:
        home = self._home
        if cleaned[0] == "+":
            return self._normalized(cleaned)
        national = self._normalized(cleaned)
        # Caller ids often drop the "+".  Where the trunk prefix is 0, a number too
        # long to be local, that its own country writes with the 0 but that came
        # without it, is far more likely international if it is valid as such
        # (phonenumbers' national patterns are loose: 79161234567 passes in DE,
        # while a Chinese mobile 13123456789 is really written without a 0).
        if (
            home.national_prefix == "0"
            and cleaned[0] != "0"
            and len(cleaned) > MAX_SUBSCRIBER_DIGITS
            and (national is None or _written_with_trunk_prefix(national, "0"))
        ):
            abroad = self._normalized("+" + cleaned, must_be_valid=True)
            if abroad is not None:
                return abroad
        return national or self._normalized("+" + cleaned)

    def _normalized(self, cleaned: str, must_be_valid: bool = False) -> str | None:
        located = self._locate(cleaned)
        if isinstance(located[0], str):
            return None
        checked = self._check(*located)
        if checked is None or (
            must_be_valid and (checked[0] is None or checked[1] == PhoneNumberType.UNKNOWN)
        ):
            return None
        return f"+{located[0]}{located[1]}"


def _written_with_trunk_prefix(e164: str, prefix: str) -> bool:
    """Whether the number's own country writes it with ``prefix`` (slow, rare)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:  # pragma: no cover - e164 was parsed before
        return True
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL).startswith(prefix)


def normalize_incoming(raw: object, plan: DialPlan) -> str | None:
    """E.164 form of a caller id in any usual format, or None; never raises.

    Understands the same forms as ``DialPlan.prepare`` (trunk prefix, exit
    codes, city code for local numbers) and, failing those, digits without the
    "+" as an international number.  Idempotent on E.164 input.
    """
    return plan.normalize(raw)


normalize_stored = normalize_incoming
"""Same normalisation for phones stored on records (back-fills the E.164 column)."""


# --------------------------------------------------------------------------
# Numbers written in the country of their record
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _country_plan(region: str) -> DialPlan | None:
    """The bare rules of a country: reads numbers as its people write them."""
    try:
        return DialPlan(region=region)
    except ValueError:
        return None


def reading_plan(plan: DialPlan, region: object = None) -> DialPlan:
    """The plan that reads a number stored on a record of country ``region``.

    The plan's own country keeps its city code and local length; another
    country is read by its bare national rules; no or an unknown country
    falls back to the plan.
    """
    region = region.strip().upper() if isinstance(region, str) else ""
    if not region or region == plan.region:
        return plan
    return _country_plan(region) or plan


def _read_in(reading: DialPlan, plan: DialPlan, cleaned: str) -> str | None:
    """E.164 of a number as people of ``reading``'s country write it, checked
    by ``plan``'s rules (valid in the plan's country, possible elsewhere)."""
    located = reading._locate(cleaned)
    if isinstance(located[0], str) or plan._check(*located) is None:
        return None
    return f"+{located[0]}{located[1]}"


def to_e164(raw: object, plan: DialPlan, region: object = None) -> str | None:
    """E.164 form of a number stored on a record of country ``region``.

    The number is read as people of that country write it, and kept when
    it could be dialled from the plan's country (valid there, of a possible
    length abroad); a number stored without its "+" is kept only if valid.
    None otherwise: an index of numbers holds nothing guessed.  Never raises.
    """
    cleaned = _clean(raw)
    if not cleaned:
        return None
    e164 = _read_in(reading_plan(plan, region), plan, cleaned)
    if e164 is None and cleaned[0] != "+":
        e164 = plan._normalized("+" + cleaned, must_be_valid=True)
    return e164


def prepare_in_country(
    raw: str, plan: DialPlan, region: object = None, allow_international: bool = False
) -> DialResult:
    """``plan.prepare`` for a number written as people of ``region`` write it.

    The number is read in its country, then the plan's rules (international
    calls, banned codes, directions, patterns) apply to its E.164 form.
    """
    reading = reading_plan(plan, region)
    cleaned = _clean(raw) if reading is not plan else None
    if cleaned:
        located = reading._locate(cleaned)
        if isinstance(located[0], str):
            raise DialRefused(REASON_INVALID, *located)
        raw = f"+{located[0]}{located[1]}"
    return plan.prepare(raw, allow_international=allow_international)
