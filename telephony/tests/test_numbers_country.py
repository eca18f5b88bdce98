"""Numbers read in the country of the record that stores them."""

from __future__ import annotations

import pytest

from telephony.numbers import (
    INTERNATIONAL,
    DialPlan,
    DialRefused,
    prepare_in_country,
    reading_plan,
    to_e164,
)

RU = DialPlan(region="RU", city_code="495", banned_codes="+1900")
RU_HOME_ONLY = DialPlan(region="RU", allowed_directions="local,national,mobile")


def test_a_us_contacts_national_number_is_read_in_the_us():
    assert to_e164("(870)-931-0505", RU, "US") == "+18709310505"
    assert to_e164("(870)-931-0505", RU, "us") == "+18709310505"


def test_the_plans_country_keeps_its_city_code():
    assert to_e164("123-45-67", RU, "RU") == "+74951234567"
    assert to_e164("123-45-67", RU) == "+74951234567"
    assert reading_plan(RU, "RU") is RU
    assert reading_plan(RU, False) is RU


def test_a_number_unreadable_in_its_country_is_not_indexed():
    # Read as Russian, this one became the made-up +6039963829 before.
    assert to_e164("(603)-996-3829", RU) is None
    assert to_e164("(603)-996-3829", RU, "US") == "+16039963829"
    assert to_e164("(941)-284-4875", RU, "US") == "+19412844875"
    assert to_e164("8 (916) 123-45-67", RU, "US") is None
    assert to_e164("", RU, "US") is None
    assert to_e164(False, RU, "US") is None


def test_international_numbers_are_read_anywhere():
    assert to_e164("+7 916 123-45-67", RU, "US") == "+79161234567"
    assert to_e164("+1 870 931 0505", RU, "RU") == "+18709310505"


def test_an_unknown_country_falls_back_to_the_plan():
    assert reading_plan(RU, "ZZ") is RU
    assert to_e164("8 (916) 123-45-67", RU, "ZZ") == "+79161234567"


def test_dialling_reads_in_the_records_country_then_applies_the_plan():
    result = prepare_in_country("(870)-931-0505", RU, "US", allow_international=True)
    assert result.e164 == "+18709310505"
    assert result.direction == INTERNATIONAL
    with pytest.raises(DialRefused) as refused:
        prepare_in_country("(870)-931-0505", RU_HOME_ONLY, "US")
    assert refused.value.code == "direction_international"
    with pytest.raises(DialRefused) as refused:
        prepare_in_country("(900) 555-0123", RU, "US", allow_international=True)
    assert refused.value.reason in ("banned", "invalid")
    with pytest.raises(DialRefused) as refused:
        prepare_in_country("8 (916) 123-45-67", RU, "US", allow_international=True)
    assert refused.value.reason == "invalid"
    assert prepare_in_country("8 (916) 123-45-67", RU, "RU").e164 == "+79161234567"


def test_a_number_of_a_possible_length_abroad_is_read_as_dialled():
    # Demo contacts have US numbers of unassigned area codes: dialled from
    # Russia as any +1 number of that length would be, and indexed alike.
    assert to_e164("(198)-539-4948", RU, "US") == "+11985394948"
    assert prepare_in_country("(198)-539-4948", RU, "US").e164 == "+11985394948"
    assert to_e164("+1 555-555-5556", RU, "US") == "+15555555556"
    # At home, numbers must be valid, as when typed.
    assert to_e164("(603)-996-3829", DialPlan(region="US")) == "+16039963829"
    assert to_e164("(198)-539-4948", DialPlan(region="US")) is None


def test_a_number_stored_without_its_plus_is_kept_only_if_valid():
    assert to_e164("79161234567", RU) == "+79161234567"
    assert to_e164("6039963829", RU) is None
