"""Fast parsing of phone numbers on ``phonenumbers``' metadata.

Region knowledge comes from the ``phonenumbers`` metadata, but the hot path does
not call ``phonenumbers.parse`` / ``number_type``: for a string already reduced
to ASCII digits their generic free-text and unicode handling costs more than the
whole per-call budget (parse alone is ~75 us).  ``parse_digits``,
``type_of`` and ``region_and_type`` are lean ports of the corresponding
library steps over precompiled per-region tables; the test-suite checks them
against the library itself.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

MAX_INPUT_CHARS = 256
"""Raw text longer than this is refused before any work is done on it."""
MAX_DIGITS = 64
"""Digits left after cleanup; caps the input of every regex run per call."""
MAX_SUBSCRIBER_DIGITS = 8
"""Without a local length, only numbers up to this long may be local ones
(subscriber numbers are at most 8 digits in practice: Berlin, London, Beijing)."""

MIN_NSN = 2  # phonenumbers._MIN_LENGTH_FOR_NSN
MAX_NSN = 17  # phonenumbers._MAX_LENGTH_FOR_NSN
NON_GEO_REGION = "001"

# Separators people type or paste inside numbers: whitespace, dashes, dots,
# brackets, slashes (including the unicode dashes and spaces word processors
# produce).
SEPARATORS = dict.fromkeys(
    map(
        ord,
        " \t\r\n\f\v\xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
        "\u2009\u200a\u200b\u202f\u205f\u3000"
        "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
        ".()[]{}/",
    )
)
_ASCII_SEPARATORS = bytes(c for c in SEPARATORS if c < 128)
CLEAN_NUMBER = re.compile(r"\+?[0-9]+")

# --------------------------------------------------------------------------
# Region tables
# --------------------------------------------------------------------------

TOO_SHORT = "too_short"
TOO_LONG = "too_long"
POSSIBLE = "possible"
LOCAL_ONLY = "local_only"
INVALID_LENGTH = "invalid_length"

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


class Region:
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
def region_data(region: str) -> Region | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    return Region(region, metadata) if metadata is not None else None


@functools.cache
def calling_code_data(country_code: int) -> Region | None:
    """Metadata phonenumbers uses for a calling code: its main region's, or the
    non-geographic entity's (+800, +882...)."""
    region = phonenumbers.region_code_for_country_code(country_code)
    if region != NON_GEO_REGION:
        return region_data(region)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    return Region(region, metadata) if metadata is not None else None


def _matches_general(number: str, data: Region) -> bool:
    return data.general is not None and data.general.fullmatch(number) is not None


def _matches_desc(nsn: str, desc: _Desc | None) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return _regex(pattern).fullmatch(nsn) is not None


def length_verdict(nsn: str, data: Region) -> str:
    """Port of phonenumbers' _test_number_length for the general description."""
    length = len(nsn)
    if length in data.local_only_lengths:
        return LOCAL_ONLY
    lengths = data.possible_lengths
    if not lengths:
        return INVALID_LENGTH
    if lengths[0] == length:
        return POSSIBLE
    if lengths[0] > length:
        return TOO_SHORT
    if lengths[-1] < length:
        return TOO_LONG
    return POSSIBLE if length in lengths[1:] else INVALID_LENGTH


def type_of(nsn: str, data: Region) -> int:
    """Port of phonenumbers' _number_type_helper (see Region.type_table)."""
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


def region_and_type(country_code: int, nsn: str) -> tuple[str | None, int]:
    """Region and type of a number, as region_code_for_number + number_type.

    The number is valid (phonenumbers.is_valid_number) exactly when the region
    is not None and the type is not UNKNOWN.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    if len(regions) == 1:
        data = calling_code_data(country_code)
        if data is None:
            return None, PhoneNumberType.UNKNOWN
        return regions[0], type_of(nsn, data)
    for region in regions:
        data = region_data(region)
        if data is None:
            continue
        if data.leading_digits is not None:
            if data.leading_digits.match(nsn):
                return region, type_of(nsn, data)
        else:
            number_type = type_of(nsn, data)
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


def strip_idd(digits: str, data: Region) -> str | None:
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


def _strip_national_prefix(number: str, data: Region) -> str:
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


def _split_country_code(digits: str, plus: bool, home: Region) -> tuple[int, str] | None:
    """Port of phonenumbers' _maybe_extract_country_code; country code 0 means
    "the home region's"; None means phonenumbers would raise."""
    if plus:
        if len(digits) <= MIN_NSN:
            return None
        country_code, rest = _extract_country_code(digits)
        if country_code:
            return country_code, rest
        # phonenumbers retries without the plus sign and keeps the result only
        # if that finds a country code.
        retry = _split_country_code(digits, False, home)
        return retry if retry is not None and retry[0] else None
    rest = strip_idd(digits, home)
    if rest is not None:
        if len(rest) <= MIN_NSN:
            return None
        country_code, rest = _extract_country_code(rest)
        return (country_code, rest) if country_code else None
    code = home.country_code_str
    if digits.startswith(code):
        potential = _strip_national_prefix(digits[len(code) :], home)
        if (
            not _matches_general(digits, home) and _matches_general(potential, home)
        ) or length_verdict(digits, home) == TOO_LONG:
            return home.country_code, potential
    return 0, digits


def parse_digits(digits: str, plus: bool, home: Region) -> tuple[int, str] | None:
    """(country code, national significant number) exactly as
    ``phonenumbers.parse("+" * plus + digits, home.region)`` finds them, or None
    where it would raise."""
    if not plus and len(digits) < MIN_NSN:
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
        data = calling_code_data(country_code)
        if data is None:  # pragma: no cover - every listed code has metadata
            return None
    if len(nsn) < MIN_NSN:
        return None
    potential = _strip_national_prefix(nsn, data)
    if potential != nsn and length_verdict(potential, data) not in (
        TOO_SHORT,
        LOCAL_ONLY,
        INVALID_LENGTH,
    ):
        nsn = potential
    if not MIN_NSN <= len(nsn) <= MAX_NSN:
        return None
    return country_code, nsn


def clean(raw: object) -> str | None:
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
        cleaned = raw.translate(SEPARATORS)
    if not cleaned:
        return ""
    if len(cleaned) > MAX_DIGITS + 1 or not CLEAN_NUMBER.fullmatch(cleaned):
        return None
    return cleaned


def shown(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 32 else text[:31] + "\u2026"
