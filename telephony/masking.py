"""Hiding phone numbers from users whose groups may not see them.

Modes:

* ``"none"``: the number is shown as is.
* ``"full"``: the number is hidden entirely and ``mask_number`` returns ``""``;
  the UI then shows only the call button, so the user can still call without
  ever seeing the digits.
* ``"prefix"``: the first ``count`` *digits* become ``"*"``.  Digits, not
  characters: the "+" and the separators stay where they are, so the same
  count hides the same digits whether the number is stored as
  ``"+7 916 123-45-67"`` or ``"+79161234567"``.

Anything unexpected fails closed: an unknown mode hides the number fully.
Empty values (``None``, ``False`` as Odoo gives them, ``""``) mean no policy
for modes and counts, and give ``""`` for numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MASK_CHAR", "MODE_FULL", "MODE_NONE", "MODE_PREFIX", "mask_number", "mask_policy"]

MODE_NONE = "none"
MODE_FULL = "full"
MODE_PREFIX = "prefix"
MASK_CHAR = "*"

_STRICTNESS = {MODE_NONE: 0, MODE_PREFIX: 1, MODE_FULL: 2}


def _count(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        try:
            count = int(count) if count else 0  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return 0
    return max(count, 0)


def _mode(mode: object) -> str:
    """Canonical mode; empty means none, anything unknown means full."""
    if not mode:
        return MODE_NONE
    if isinstance(mode, str):
        mode = mode.strip().lower()
        if mode in _STRICTNESS:
            return mode
    return MODE_FULL


def mask_number(number: str | None, mode: str | None, count: int | None = 0) -> str:
    """The number as a user under this policy may see it (see module docstring)."""
    if not number or not isinstance(number, str):
        return ""
    mode = _mode(mode)
    if mode == MODE_NONE:
        return number
    if mode == MODE_FULL:
        return ""
    remaining = _count(count)
    if not remaining:
        return number
    masked: list[str] = []
    for char in number:
        if remaining and char.isdigit():
            masked.append(MASK_CHAR)
            remaining -= 1
        else:
            masked.append(char)
    return "".join(masked)


def mask_policy(policies: Iterable[tuple[str | None, int | None]] | None) -> tuple[str, int]:
    """Combine the policies of all a user's groups into the strictest one.

    Full beats prefix, prefix beats none, a larger prefix count beats a smaller
    one; the result is ``("none", 0)`` only if every policy is none (or there
    are none).  A prefix of 0 digits is the same as none.  Full and none carry
    a count of 0.
    """
    best_mode, best_count = MODE_NONE, 0
    for policy in policies or ():
        if not policy:
            continue
        mode, count = (policy[0], policy[1]) if len(policy) > 1 else (policy[0], 0)
        mode = _mode(mode)
        count = _count(count)
        if mode == MODE_PREFIX and not count:
            mode = MODE_NONE
        if mode == MODE_FULL:
            return MODE_FULL, 0
        if mode == MODE_PREFIX and (best_mode == MODE_NONE or count > best_count):
            best_mode, best_count = MODE_PREFIX, count
    return best_mode, best_count
