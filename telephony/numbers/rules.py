"""The rule language of a line: dial patterns (``_8XXXXXXXXXX``, ``_810X.``),
replace rules (``^7/8``: a regular expression and its replacement, checked so
that no rule can backtrack for long) and lists of banned codes."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

try:  # Python >= 3.11
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

from .parser import CLEAN_NUMBER, SEPARATORS

MAX_RULE_CHARS = 200
MAX_VARIABLE_REPEATS = 3
"""Variable-length repetitions allowed in a replace rule (keeps backtracking
polynomial of low degree on <= 64 characters)."""


_CODE_LIST_SPLIT = re.compile(r"[,;\n]")


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
        cleaned = entry.translate(SEPARATORS)
        if not cleaned:
            continue
        if not CLEAN_NUMBER.fullmatch(cleaned):
            raise ValueError(
                f'Banned code "{entry.strip()}" is not valid: use digits with an '
                'optional leading "+", e.g. "+1" or "8".'
            )
        if cleaned not in result:
            result.append(cleaned)
    return tuple(result)


def split_words(value: str | Iterable[str] | None, separators: str) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [word.strip() for word in re.split(separators, value) if word.strip()]
    return list(value)
