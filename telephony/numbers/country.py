"""Numbers written in the country of the record that stores them.

A contact in the United States writes ``(870)-931-0505``; the company's plan
is Russian. These read such a number as its record's country writes it,
then apply the plan's rules (what may be dialled from here) to the result.
"""

from __future__ import annotations

import functools

from .dialplan import REASON_INVALID, DialPlan, DialRefused, DialResult
from .parser import clean


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
    cleaned = clean(raw)
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
    cleaned = clean(raw) if reading is not plan else None
    if cleaned:
        located = reading._locate(cleaned)
        if isinstance(located[0], str):
            raise DialRefused(REASON_INVALID, *located)
        raw = f"+{located[0]}{located[1]}"
    return plan.prepare(raw, allow_international=allow_international)
