"""The dial plan of a line: what a user typed -> what the trunk dials, and
caller ids -> E.164, with the refusals an administrator and a user read."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from .parser import (
    LOCAL_ONLY,
    MAX_NSN,
    MAX_SUBSCRIBER_DIGITS,
    POSSIBLE,
    SEPARATORS,
    Region,
    calling_code_data,
    clean,
    length_verdict,
    parse_digits,
    region_and_type,
    region_data,
    shown,
    strip_idd,
)
from .rules import PhonePattern, check_replace_rule, split_codes, split_words

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


_CACHE_SIZE = 4096


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

    _home: Region = field(init=False, repr=False, compare=False)
    _patterns_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _replace_rule: tuple[re.Pattern[str], str] | None = field(init=False, repr=False, compare=False)
    _prepare_cached: Any = field(init=False, repr=False, compare=False)
    _normalize_cached: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        region = (self.region or "").strip().upper() if isinstance(self.region, str) else ""
        home = region_data(region) if region in phonenumbers.SUPPORTED_REGIONS else None
        if home is None:
            raise ValueError(f"Unknown region {self.region!r}: use an ISO code such as 'RU'.")
        put("region", region)
        put("_home", home)

        for name in ("city_code", "exit_prefix"):
            value = getattr(self, name) or ""
            value = value.translate(SEPARATORS) if isinstance(value, str) else value
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
            or not 1 <= local_length <= MAX_NSN
        ):
            raise ValueError(f"The local number length must be 1 to {MAX_NSN}.")
        put("local_length", local_length)

        patterns = split_words(self.patterns, r"[,;\n]")
        compiled = tuple(dict.fromkeys(PhonePattern(p) for p in patterns))
        put("patterns", compiled)
        joined = "|".join(f"(?:{pattern.regex.pattern})" for pattern in compiled)
        put("_patterns_regex", re.compile(joined) if compiled else None)

        directions = frozenset(
            word.lower() for word in split_words(self.allowed_directions, r"[,;\s]+")
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
        cleaned = clean(raw)
        if not cleaned:
            if cleaned is None:
                raise DialRefused(REASON_INVALID, "invalid", {"number": shown(raw)})
            raise DialRefused(REASON_EMPTY, "empty")
        outcome = self._prepare_cached(cleaned, bool(allow_international))
        if isinstance(outcome, DialResult):
            return outcome
        raise DialRefused(*outcome)

    def normalize(self, raw: object) -> str | None:
        """E.164 form of a caller id / stored phone, or None; never raises."""
        cleaned = clean(raw)
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
            and not self._is_home_valid(parse_digits(digits, False, self._home))
        ):
            return digits[2:]
        return None

    def _check(self, country_code: int, nsn: str) -> tuple[str | None, int] | None:
        """(region, type) of an acceptable number, else None.

        Acceptable: possible (phonenumbers.is_possible_number) and, in the home
        calling code, valid.  A length that is only possible for local dialling
        (+1 555 0100) must be valid wherever the number is from.
        """
        data = calling_code_data(country_code)
        if data is None:
            return None
        verdict = length_verdict(nsn, data)
        if verdict != POSSIBLE and verdict != LOCAL_ONLY:
            return None
        region, number_type = region_and_type(country_code, nsn)
        if (country_code == self._home.country_code or verdict == LOCAL_ONLY) and (
            region is None or number_type == PhoneNumberType.UNKNOWN
        ):
            return None
        parser = data.national_prefix_parser
        if parser is not None and parser.match(nsn):
            # "+<code><nsn>" would lose what looks like a trunk prefix when read
            # back (+31 0000000 -> +31 000000): no stable E.164 form, refuse.
            code = str(country_code)
            if parse_digits(code + nsn, True, self._home) != (country_code, nsn):
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
            and strip_idd(digits, home) is None
            and not (home.national_prefix and digits.startswith(home.national_prefix))
        )
        if national and self.local_length:
            if len(digits) == self.local_length and self.city_code:
                digits = self.city_code + digits
            elif len(digits) < self.local_length + len(self.city_code):
                return "local_length", {"digits": str(self.local_length)}
        elif national and self.city_code and len(digits) <= MAX_SUBSCRIBER_DIGITS:
            with_city = parse_digits(self.city_code + digits, False, home)
            if with_city is not None and self._is_home_valid(with_city):
                as_dialled = parse_digits(digits, False, home)
                # Where the trunk prefix is 0, dialling without it always means local.
                if (
                    home.national_prefix == "0"
                    or as_dialled is None
                    or not self._is_home_valid(as_dialled)
                ):
                    return with_city
                return as_dialled
        parsed = parse_digits(digits, plus, home)
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
