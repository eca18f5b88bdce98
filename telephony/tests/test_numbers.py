"""Tests of telephony.numbers: dial plans, caller-id normalisation, rules."""

from __future__ import annotations

import pickle
import time

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from telephony.numbers import (
    DIRECTIONS,
    DialPlan,
    DialRefused,
    DialResult,
    PhonePattern,
    check_replace_rule,
    normalize_incoming,
    normalize_stored,
    parser,  # the fast parser, checked against phonenumbers
    split_codes,
)

RU = DialPlan(region="RU", city_code="495", exit_prefix="810", local_length=7, replace="^7/8")
RU_BRIEF = DialPlan(
    region="RU",
    city_code="495",
    exit_prefix="810",
    banned_codes=["+1"],
    local_length=7,
    patterns=["_8XXXXXXXXXX", "_810X."],
    allowed_directions={"local", "national", "mobile", "international"},
    replace="^7/8",
)
DE = DialPlan(region="DE", city_code="30", exit_prefix="00")
US = DialPlan(region="US", city_code="212", exit_prefix="011")
GB = DialPlan(region="GB", city_code="20", exit_prefix="00")
PLANS = {"RU": RU, "RU_BRIEF": RU_BRIEF, "DE": DE, "US": US, "GB": GB}

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow],
)

# plan, typed, e164, direction, dial, region of the number
PREPARE_CASES = [
    # Moscow: 7-digit local numbers get the city code.
    ("RU", "123-45-67", "+74951234567", "local", "84951234567", "RU"),
    ("RU", "1234567", "+74951234567", "local", "84951234567", "RU"),
    ("RU", "8 495 1234567", "+74951234567", "local", "84951234567", "RU"),
    ("RU", "+7 495 123 45 67", "+74951234567", "local", "84951234567", "RU"),
    # Long distance with the 8 trunk prefix.
    ("RU", "8 (812) 123-45-67", "+78121234567", "national", "88121234567", "RU"),
    # Mobiles in every usual form.
    ("RU", "+7 916 123-45-67", "+79161234567", "mobile", "89161234567", "RU"),
    ("RU", "8 916 1234567", "+79161234567", "mobile", "89161234567", "RU"),
    ("RU", "89161234567", "+79161234567", "mobile", "89161234567", "RU"),
    ("RU", "9161234567", "+79161234567", "mobile", "89161234567", "RU"),
    ("RU", "8.916.123.45.67", "+79161234567", "mobile", "89161234567", "RU"),
    # Unicode spaces and dashes pasted from documents.
    ("RU", "8\u00a0916\u2013123\u201145\u201467", "+79161234567", "mobile", "89161234567", "RU"),
    # Toll-free counts as national.
    ("RU", "8-800-555-35-35", "+78005553535", "national", "88005553535", "RU"),
    # Abroad: 810, "+" and 00 all mean international; the trunk gets 810.
    ("RU", "810 1 212 555 0100", "+12125550100", "international", "81012125550100", "US"),
    ("RU", "+44 20 7946 0958", "+442079460958", "international", "810442079460958", "GB"),
    ("RU", "00 44 20 7946 0958", "+442079460958", "international", "810442079460958", "GB"),
    # Kazakhstan shares +7: abroad, but dialled like a national number.
    ("RU", "+7 7172 123456", "+77172123456", "international", "87172123456", "KZ"),
    # Brief plan: patterns allow both the national and the 810 forms.
    ("RU_BRIEF", "123-45-67", "+74951234567", "local", "84951234567", "RU"),
    ("RU_BRIEF", "+44 20 7946 0958", "+442079460958", "international", "810442079460958", "GB"),
    # Germany, Berlin.
    ("DE", "030 1234567", "+49301234567", "local", "49301234567", "DE"),
    ("DE", "1234567", "+49301234567", "local", "49301234567", "DE"),
    ("DE", "+49 30 1234567", "+49301234567", "local", "49301234567", "DE"),
    ("DE", "089 1234567", "+49891234567", "national", "49891234567", "DE"),
    ("DE", "0151 12345678", "+4915112345678", "mobile", "4915112345678", "DE"),
    ("DE", "+33 1 23 45 67 89", "+33123456789", "international", "0033123456789", "FR"),
    ("DE", "0033 1 23 45 67 89", "+33123456789", "international", "0033123456789", "FR"),
    # United States, New York (212).
    ("US", "(212) 555-0100", "+12125550100", "local", "12125550100", "US"),
    ("US", "555-0100", "+12125550100", "local", "12125550100", "US"),
    ("US", "+1 212 555 0100", "+12125550100", "local", "12125550100", "US"),
    ("US", "1 (212) 555-0100", "+12125550100", "local", "12125550100", "US"),
    ("US", "011 44 20 7946 0958", "+442079460958", "international", "011442079460958", "GB"),
    # US numbers are FIXED_LINE_OR_MOBILE: outside the city area they count as mobile.
    ("US", "(312) 555-0100", "+13125550100", "mobile", "13125550100", "US"),
    # Canada shares +1 but is another country.
    ("US", "+1 416 555 0100", "+14165550100", "international", "14165550100", "CA"),
    # United Kingdom, London.
    ("GB", "020 7946 0958", "+442079460958", "local", "442079460958", "GB"),
    ("GB", "7946 0958", "+442079460958", "local", "442079460958", "GB"),
    ("GB", "0161 496 0000", "+441614960000", "national", "441614960000", "GB"),
    ("GB", "07400 123456", "+447400123456", "mobile", "447400123456", "GB"),
    ("GB", "+44 7400 123456", "+447400123456", "mobile", "447400123456", "GB"),
    ("GB", "00 7 916 123 45 67", "+79161234567", "international", "0079161234567", "RU"),
]


@pytest.mark.parametrize(("plan", "raw", "e164", "direction", "dial", "region"), PREPARE_CASES)
def test_prepare(plan, raw, e164, direction, dial, region):
    result = PLANS[plan].prepare(raw)
    assert (result.e164, result.direction, result.dial, result.region) == (
        e164,
        direction,
        dial,
        region,
    )


def test_result_is_frozen_and_formats_national_lazily():
    result = RU.prepare("8 (812) 123-45-67")
    assert isinstance(result, DialResult)
    assert result.national == "8 (812) 123-45-67"
    assert US.prepare("+44 20 7946 0958").national == "020 7946 0958"
    with pytest.raises(AttributeError):
        result.e164 = "+1"  # type: ignore[misc]


def test_brief_example_is_banned():
    with pytest.raises(DialRefused) as info:
        RU_BRIEF.prepare("+1 212 555 0100")
    assert info.value.reason == "banned"
    assert info.value.message == "Calls to +1 are not allowed."
    assert str(info.value) == info.value.message


def test_dial_refused_pickles():
    error = pickle.loads(pickle.dumps(DialRefused("banned", "banned", {"code": "+1"})))
    assert (error.reason, error.message, str(error)) == (
        "banned",
        "Calls to +1 are not allowed.",
        "Calls to +1 are not allowed.",
    )


INVALID_INPUTS = [
    "abc",
    "8 916 CALL-NOW",
    "12",
    "1" * 1000,
    "+" + "7" * 70,
    "\u0663\u0664\u0665",  # Arabic-Indic digits
    "\uff18\uff19\uff11\uff16",  # full-width digits
    "+",
    "++79161234567",
    "7+9161234567",
    "8 916 123 45 67 ext 12",
    "*100#",
    "x" * 1000,
    "0",
    "+0 123 456 789",
    "+999 123 456 789",  # no such country code
    "8 495 123",  # too short
    "07700 900123",  # impossible in RU (and unassigned in GB, see below)
    "\x00\x01",
    42,
    3.5,
    ["89161234567"],
]


@pytest.mark.parametrize("raw", INVALID_INPUTS)
def test_prepare_refuses_invalid(raw):
    with pytest.raises(DialRefused) as info:
        RU.prepare(raw)
    assert info.value.reason == "invalid"
    assert info.value.message
    assert len(info.value.message) < 120


@pytest.mark.parametrize("raw", ["", "   ", " - ( ) ", None, False])
def test_prepare_refuses_empty(raw):
    with pytest.raises(DialRefused) as info:
        RU.prepare(raw)
    assert info.value.reason == "empty"


def test_local_length_is_checked():
    with pytest.raises(DialRefused, match="Local numbers must have 7 digits"):
        RU.prepare("123456")
    with pytest.raises(DialRefused, match="Local numbers must have 7 digits"):
        RU.prepare("12345678")


def test_unassigned_uk_drama_number_is_invalid():
    # Ofcom reserves 07700 900xxx for fiction; phonenumbers knows it is not assigned.
    with pytest.raises(DialRefused) as info:
        GB.prepare("07700 900123")
    assert info.value.reason == "invalid"


def test_home_region_numbers_must_be_valid_foreign_ones_possible():
    with pytest.raises(DialRefused):  # +7 0... is not a valid Russian number
        RU.prepare("+7 012 345 67 89")
    # +1 555 numbers are possible but not valid; abroad only possibility is checked.
    assert RU.prepare("+1 555 555 0100").e164 == "+15555550100"


def test_direction_refused_and_allow_international():
    plan = DialPlan(region="RU", city_code="495", allowed_directions=["local", "national"])
    with pytest.raises(DialRefused) as info:
        plan.prepare("+44 20 7946 0958")
    assert info.value.reason == "direction"
    assert info.value.message == "International calls are not allowed."
    assert plan.prepare("+44 20 7946 0958", allow_international=True).dial == "442079460958"

    with pytest.raises(DialRefused) as info:
        plan.prepare("+7 916 123 45 67", allow_international=True)
    assert info.value.reason == "direction"
    assert "mobile" in info.value.message
    assert plan.prepare("1234567").direction == "local"


def test_no_direction_allowed_refuses_everything():
    plan = DialPlan(region="RU", allowed_directions=[])
    with pytest.raises(DialRefused):
        plan.prepare("8 812 123 45 67")


@pytest.mark.parametrize(
    ("banned", "raw", "banned_by"),
    [
        (["+1"], "+1 212 555 0100", "+1"),
        ("+7, 8", "+7 916 123 45 67", "+7"),
        ("+7, 8", "+44 20 7946 0958", "8"),  # dial string 810... starts with 8
        ("+7 916; +44", "8 916 123 45 67", "+7916"),
        (["+44"], "00 44 20 7946 0958", "+44"),
    ],
)
def test_banned_codes(banned, raw, banned_by):
    plan = DialPlan(region="RU", exit_prefix="810", banned_codes=banned)
    with pytest.raises(DialRefused) as info:
        plan.prepare(raw)
    assert info.value.reason == "banned"
    assert info.value.message == f"Calls to {banned_by} are not allowed."


def test_banned_codes_leave_other_numbers_alone():
    plan = DialPlan(region="RU", exit_prefix="810", banned_codes="+7 916, 8")
    assert plan.prepare("8 917 123 45 67").e164 == "+79171234567"


def test_banned_check_uses_dial_string_before_replace():
    plan = DialPlan(region="RU", banned_codes=["8"], replace="^7/8")
    assert plan.prepare("8 916 123 45 67").dial == "89161234567"


def test_split_codes():
    assert split_codes("+7, 8 ;\n+1 (212)") == ("+7", "8", "+1212")
    assert split_codes(["+7", " ", "+7"]) == ("+7",)
    assert split_codes(None) == ()
    with pytest.raises(ValueError, match="Banned code"):
        split_codes("+7, abc")


def test_pattern_refusal():
    plan = DialPlan(region="RU", replace="^7/8", patterns=["_8[3-5]XXXXXXXXX"])
    assert plan.prepare("8 495 123 45 67").dial == "84951234567"
    with pytest.raises(DialRefused) as info:
        plan.prepare("8 916 123 45 67")
    assert info.value.reason == "pattern"
    assert info.value.message == "+79161234567 does not match the dial patterns of this line."


def test_brief_plan_patterns():
    assert RU_BRIEF.prepare("+7 7172 123456").dial == "87172123456"
    assert RU_BRIEF.prepare("+49 30 1234567").dial == "81049301234567"


def test_replace_rule_with_groups_and_prefix():
    plan = DialPlan(region="RU", replace=r"^7(\d{10})$/8\1")
    assert plan.prepare("+7 916 123 45 67").dial == "89161234567"
    plan = DialPlan(region="RU", replace="^/9")  # outside-line prefix
    assert plan.prepare("+7 916 123 45 67").dial == "979161234567"
    plan = DialPlan(region="RU", replace="^79/+79")
    assert plan.prepare("8 916 123 45 67").dial == "+79161234567"


def test_replace_rule_leaving_nothing_is_refused():
    plan = DialPlan(region="RU", replace=r"^\d+$/")
    with pytest.raises(DialRefused) as info:
        plan.prepare("8 916 123 45 67")
    assert info.value.reason == "pattern"


def test_caching_returns_equal_results_and_still_raises():
    plan = DialPlan(region="RU", city_code="495", banned_codes=["+44"])
    assert plan.prepare("123-45-67") is plan.prepare("1234567")
    for _ in range(2):
        with pytest.raises(DialRefused):
            plan.prepare("+44 20 7946 0958")


# --------------------------------------------------------------------------
# Plan construction
# --------------------------------------------------------------------------


def test_defaults():
    plan = DialPlan(region="ru")
    assert plan.region == "RU"
    assert plan.allowed_directions == DIRECTIONS
    assert (plan.city_code, plan.exit_prefix, plan.banned_codes, plan.patterns) == (
        "",
        "",
        (),
        (),
    )
    assert plan.local_length is None and plan.replace == ""
    assert plan.prepare("+7 916 123 45 67").dial == "79161234567"
    assert plan.prepare("+44 20 7946 0958").dial == "442079460958"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "XX"}, "Unknown region"),
        ({"region": ""}, "Unknown region"),
        ({"region": "RU", "city_code": "49a"}, "city code must be digits"),
        ({"region": "RU", "exit_prefix": "+810"}, "exit prefix must be digits"),
        ({"region": "RU", "local_length": 0.5}, "local number length"),
        ({"region": "RU", "local_length": 40}, "local number length"),
        ({"region": "RU", "patterns": ["_8Q"]}, "unexpected character"),
        ({"region": "RU", "allowed_directions": "local, abroad"}, "abroad"),
        ({"region": "RU", "replace": "^(7/8"}, "not a valid regular expression"),
        ({"region": "RU", "banned_codes": "+7, x"}, "Banned code"),
    ],
)
def test_invalid_plans(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DialPlan(**kwargs)


def test_from_settings_accepts_odoo_values():
    plan = DialPlan.from_settings(
        {
            "country": "ru",
            "city_code": "495",
            "exit_prefix": "810",
            "banned_codes": "+1, 8",
            "local_length": "7",
            "patterns": "_8XXXXXXXXXX\n_810X.",
            "allowed_directions": "local,national, mobile",
            "replace": "^7/8",
            "unrelated": object(),
        }
    )
    assert plan.region == "RU" and plan.local_length == 7
    assert plan.banned_codes == ("+1", "8")
    assert [p.text for p in plan.patterns] == ["_8XXXXXXXXXX", "_810X."]
    assert plan.allowed_directions == {"local", "national", "mobile"}
    assert plan.prepare("123-45-67").dial == "84951234567"

    empty = DialPlan.from_settings(
        {
            "region": "DE",
            "city_code": False,
            "exit_prefix": False,
            "banned_codes": False,
            "local_length": 0,
            "patterns": False,
            "allowed_directions": False,
            "replace": False,
        }
    )
    assert empty == DialPlan(region="DE")


def test_from_settings_rejects_bad_local_length():
    with pytest.raises(ValueError, match="whole number"):
        DialPlan.from_settings({"region": "RU", "local_length": "seven"})


def test_with_replace_and_hashing():
    base = DialPlan(region="RU", city_code="495")
    trunk = base.with_replace("^7/8")
    assert trunk.replace == "^7/8" and base.replace == ""
    assert trunk.prepare("1234567").dial == "84951234567"
    assert base.prepare("1234567").dial == "74951234567"
    assert trunk.with_replace(None) == base
    assert hash(trunk.with_replace("")) == hash(base)
    assert len({base, trunk, base.with_replace("^7/8")}) == 2
    with pytest.raises(ValueError):
        base.with_replace("no-slash")


# --------------------------------------------------------------------------
# Replace rules
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "before", "after"),
    [
        ("^7/8", "79161234567", "89161234567"),
        (" ^7/8 ", "79161234567", "89161234567"),
        (r"^7(\d+)$/8\1", "79161234567", "89161234567"),
        (r"^(\d)(\d+)/\2\1", "123", "231"),
        (r"^1\/2/3", "1/2x", "3x"),  # escaped slash belongs to the pattern
        (r"^1/a\/b", "12", "a/b2"),  # \/ in the replacement is a slash
        ("^1/2/3", "12", "2/32"),  # only the first slash splits
        ("(7|8)+/x", "778", "x"),  # a character-class alternation is fine
        (r"(\d{3}){2}/x", "123456", "x"),
        ("^/00", "44", "0044"),
    ],
)
def test_replace_rules(rule, before, after):
    regex, replacement = check_replace_rule(rule)
    assert regex.sub(replacement, before, count=1) == after


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("no-slash", 'has no "/"'),
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        (None, "cannot be empty"),
        ("/8", "nothing before"),
        ("^(7/8", "not a valid regular expression"),
        ("[7/8", "not a valid regular expression"),
        ("(a+)+/x", "nests repetitions"),
        ("(a*)*/x", "nests repetitions"),
        ("(.*)*/x", "nests repetitions"),
        (r"(\d+)+$/x", "nests repetitions"),
        (r"(\d{1,3}){2}/x", "nests repetitions"),
        ("(a|a)*/x", "alternation"),
        ("(ab|cd)+/x", "alternation"),
        (r"(\d)\1/x", "back-reference"),
        (r"(?P<d>\d)(?P=d)/x", "back-reference"),
        (r"(\d)?(?(1)a|b)/x", "back-reference"),
        (r"\d*\d*\d*\d*x/y", "variable-length repetitions"),
        ("^" + "7" * 200 + "/8", "too long"),
        (r"^7/\2", "does not fit"),
        (r"^(7)/\2", "does not fit"),
        (r"^7/\d", "does not fit"),
        (r"^7/\g<name>", "does not fit"),
        ("^7/8\\", "does not fit"),
    ],
)
def test_bad_replace_rules(rule, message):
    with pytest.raises(ValueError, match=message):
        check_replace_rule(rule)


def test_worst_accepted_rule_is_fast():
    regex, replacement = check_replace_rule(r"\d*\d*\d*x/y")
    started = time.perf_counter()
    assert regex.sub(replacement, "7" * 66, count=1) == "7" * 66
    assert time.perf_counter() - started < 2
    plan = DialPlan(region="RU", replace=r"\d*\d*\d*x/y")
    started = time.perf_counter()
    for _ in range(20):
        plan.prepare("+7 916 123 45 67")
        plan.prepare("+44 20 7946 0958")
    assert time.perf_counter() - started < 1


# --------------------------------------------------------------------------
# Dial patterns
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("_XXXX", ["1234", "0000"], ["12345", "123", "", "12a4"]),
        ("_xxxx", ["1234"], ["12345"]),
        ("_8[1-5]X.", ["8123", "85999999"], ["8623", "812", "81"]),
        ("_8[137]XX", ["8100", "8399", "8799"], ["8200", "81000"]),
        ("_8[13-5]X", ["810", "830", "850"], ["820", "860"]),
        ("_NXXNXXXXXX", ["2125550100"], ["1125550100", "2121550100"]),
        ("_ZX", ["10", "99"], ["01", "1"]),
        ("_9!", ["9", "91234"], ["", "8"]),
        ("_810X.", ["81012125550100"], ["810", "8101", "8201212"]),
        ("_1-NXX-NXX-XXXX", ["12125550100"], ["1212555010"]),
        ("_*X#", ["*1#"], ["1#"]),
        ("112", ["112"], ["1120", "11"]),
        ("8-800 555 35 35", ["88005553535"], ["8800555353"]),
        ("_+X.", ["+79161234567"], ["79161234567"]),
    ],
)
def test_patterns(pattern, matching, not_matching):
    compiled = PhonePattern(pattern)
    for dial in matching:
        assert compiled.matches(dial), (pattern, dial)
    for dial in not_matching:
        assert not compiled.matches(dial), (pattern, dial)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "cannot be empty"),
        ("_", "nothing after"),
        ("_ - ", "nothing after"),
        ("_8[", "unclosed"),
        ("_8[]X", "empty"),
        ("_8[5-1]X", "bad range"),
        ("_8[1-]X", "bad range"),
        ("_8[a]X", "may only hold digits"),
        ("_8QXX", "unexpected character 'Q' at position 3"),
        ("_8.X", "must be the last"),
        ("_8!1", "must be the last"),
        ("abc", "literal number"),
        ("8(916)", "literal number"),
        (None, "must be text"),
    ],
)
def test_bad_patterns(pattern, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        PhonePattern(pattern)


def test_pattern_value_semantics():
    assert PhonePattern(" _XX ") == PhonePattern("_XX")
    assert PhonePattern(PhonePattern("_XX")).text == "_XX"
    assert len({PhonePattern("_XX"), PhonePattern("_XX")}) == 1
    assert repr(PhonePattern("_XX")) == "PhonePattern('_XX')"


# --------------------------------------------------------------------------
# Caller ids
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "raw", "e164"),
    [
        ("RU", "8 (916) 123-45-67", "+79161234567"),
        ("RU", "+7 916 1234567", "+79161234567"),
        ("RU", "89161234567", "+79161234567"),
        ("RU", "79161234567", "+79161234567"),
        ("RU", "9161234567", "+79161234567"),
        ("RU", "+7(812)1234567", "+78121234567"),
        ("RU", "123-45-67", "+74951234567"),
        ("RU", "810 44 20 7946 0958", "+442079460958"),
        ("RU", "442079460958", "+442079460958"),
        ("RU", "+44 20 7946 0958", "+442079460958"),
        ("DE", "79161234567", "+79161234567"),
        ("DE", "0049 30 1234567", "+49301234567"),
        ("DE", "1234567", "+49301234567"),
        ("US", "12125550100", "+12125550100"),
        ("US", "2125550100", "+12125550100"),
        ("GB", "447400123456", "+447400123456"),
        ("GB", "07400 123456", "+447400123456"),
    ],
)
def test_normalize_incoming(plan, raw, e164):
    assert normalize_incoming(raw, PLANS[plan]) == e164
    assert normalize_incoming(e164, PLANS[plan]) == e164
    assert normalize_stored(raw, PLANS[plan]) == e164


@pytest.mark.parametrize(
    "raw",
    ["", None, False, 42, "anonymous", "Unknown", "12", "1" * 1000, "\u0663\u0664\u0665", "+"],
)
def test_normalize_incoming_gives_none(raw):
    assert normalize_incoming(raw, RU) is None


@pytest.mark.parametrize(
    ("region", "raw", "e164"),
    [
        # A German caller id without 0 or +: valid-looking in DE, really Russian.
        ("DE", "79161234567", "+79161234567"),
        # Chinese mobiles are written without the trunk 0: national it stays.
        ("CN", "13123456789", "+8613123456789"),
        # So are UAE premium numbers.
        ("AE", "900234567", "+971900234567"),
        ("GB", "4930123456", "+4930123456"),
    ],
)
def test_normalize_caller_id_without_plus_in_trunk_zero_countries(region, raw, e164):
    assert normalize_incoming(raw, DialPlan(region=region)) == e164


def test_normalize_ignores_dialling_restrictions():
    plan = DialPlan(
        region="RU", banned_codes=["+44"], allowed_directions=["local"], patterns=["_1"]
    )
    assert normalize_incoming("+44 20 7946 0958", plan) == "+442079460958"


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    examples = []
    types = [
        value
        for name, value in vars(PhoneNumberType).items()
        if name.isupper() and value != PhoneNumberType.UNKNOWN
    ]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in types:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                examples.append(example)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            examples.append(example)
    unique = {(number.country_code, number.national_number): number for number in examples}
    return [number for number in unique.values() if phonenumbers.is_valid_number(number)]


EXAMPLES = _example_numbers()


def test_example_numbers_are_many():
    assert len(EXAMPLES) > 900


@pytest.mark.parametrize("plan", ["RU", "US"])
def test_normalize_is_idempotent_on_every_example_number(plan):
    for number in EXAMPLES:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert normalize_incoming(e164, PLANS[plan]) == e164
        international = phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        assert normalize_incoming(international, PLANS[plan]) == e164


def test_every_example_number_dials_from_its_own_region():
    for number in EXAMPLES:
        region = phonenumbers.region_code_for_number(number)
        if region == "001":
            continue
        plan = DialPlan(region=region)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        result = plan.prepare(national)
        assert result.e164 == e164, (region, national)
        assert result.direction in ("national", "mobile")
        assert result.region == region
        assert normalize_incoming(national, plan) == e164


# --------------------------------------------------------------------------
# The port of phonenumbers must agree with phonenumbers
# --------------------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TRICKY_REGIONS = ["RU", "KZ", "DE", "US", "GB", "AR", "BR", "MX", "IT", "AU", "JP", "IN"]


def _reference(text: str, region: str):
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number


@PROPERTY_SETTINGS
@given(
    region=st.one_of(st.sampled_from(TRICKY_REGIONS), st.sampled_from(REGIONS)),
    plus=st.booleans(),
    head=st.sampled_from(["", "0", "00", "1", "7", "8", "810", "011", "44", "49", "54", "9"]),
    tail=st.text(alphabet="0123456789", max_size=16),
)
def test_parser_port_agrees_with_phonenumbers(region, plus, head, tail):
    digits = head + tail
    home = parser.region_data(region)
    mine = parser.parse_digits(digits, plus, home)
    reference = _reference(("+" if plus else "") + digits, region)
    if reference is None:
        assert mine is None
        return
    nsn = phonenumbers.national_significant_number(reference)
    assert mine == (reference.country_code, nsn)
    region_found, number_type = parser.region_and_type(reference.country_code, nsn)
    assert region_found == phonenumbers.region_code_for_number(reference)
    assert number_type == phonenumbers.number_type(reference)
    is_valid = region_found is not None and number_type != PhoneNumberType.UNKNOWN
    assert is_valid == phonenumbers.is_valid_number(reference)


def test_type_tables_compile_for_every_region_and_length():
    datas = [parser.region_data(region) for region in REGIONS]
    datas += [
        parser.calling_code_data(code) for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    for data in datas:
        for length in range(1, 18):
            data.type_table(length)


def test_example_types_agree_with_phonenumbers():
    for number in EXAMPLES:
        nsn = phonenumbers.national_significant_number(number)
        assert parser.region_and_type(number.country_code, nsn) == (
            phonenumbers.region_code_for_number(number),
            phonenumbers.number_type(number),
        )


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

phone_like = st.from_regex(r"[+]?[0-9 ()\-.]{0,24}", fullmatch=True)


@PROPERTY_SETTINGS
@given(raw=st.one_of(st.text(), phone_like), plan=st.sampled_from(sorted(PLANS)))
def test_prepare_only_ever_raises_dial_refused(raw, plan):
    try:
        result = PLANS[plan].prepare(raw)
    except DialRefused as refused:
        assert refused.reason in ("invalid", "empty", "banned", "direction", "pattern")
        assert refused.message
    else:
        assert result.e164.startswith("+") and result.e164[1:].isdigit()
        assert result.direction in DIRECTIONS


@PROPERTY_SETTINGS
@given(raw=st.one_of(st.text(), phone_like), plan=st.sampled_from(sorted(PLANS)))
def test_normalize_never_raises_and_is_idempotent(raw, plan):
    e164 = normalize_incoming(raw, PLANS[plan])
    if e164 is not None:
        assert e164.startswith("+") and e164[1:].isdigit()
        assert normalize_incoming(e164, PLANS[plan]) == e164


PATTERN_PLAN = DialPlan(
    region="RU",
    city_code="495",
    exit_prefix="810",
    local_length=7,
    replace="^7/8",
    patterns=["_8[3-5]XXXXXXXXX", "_89XXXXXXXXX", "_810[1-4]X."],
)


@PROPERTY_SETTINGS
@given(
    raw=st.one_of(
        phone_like,
        st.builds(
            lambda head, tail: head + tail,
            st.sampled_from(["", "8", "+7", "810", "+", "00"]),
            st.text(alphabet="0123456789", min_size=5, max_size=13),
        ),
    )
)
def test_allowed_dial_strings_match_the_patterns(raw):
    try:
        result = PATTERN_PLAN.prepare(raw)
    except DialRefused:
        return
    assert any(pattern.matches(result.dial) for pattern in PATTERN_PLAN.patterns)
    if result.e164.startswith("+7"):
        assert result.dial == "8" + result.e164[2:]
    else:
        assert result.dial == "810" + result.e164[1:]


def test_long_garbage_is_refused_quickly():
    started = time.perf_counter()
    for raw in ("9" * 10_000, "+" + "1 " * 5_000, "\u0663" * 10_000):
        with pytest.raises(DialRefused):
            RU.prepare(raw)
        assert normalize_incoming(raw, RU) is None
    assert time.perf_counter() - started < 0.5
