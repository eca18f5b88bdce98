"""Tests of telephony.masking."""

from __future__ import annotations

import pytest

from telephony.masking import mask_number, mask_policy


@pytest.mark.parametrize(
    ("number", "mode", "count", "shown"),
    [
        ("+7 916 123-45-67", "none", 0, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "none", 5, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "full", 0, ""),
        ("+7 916 123-45-67", "prefix", 4, "+* *** 123-45-67"),
        ("+79161234567", "prefix", 4, "+****1234567"),
        ("8 (916) 123-45-67", "prefix", 3, "* (**6) 123-45-67"),
        ("+7 916 123-45-67", "prefix", 0, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "prefix", 99, "+* *** ***-**-**"),
        ("+7 916 123-45-67", "PREFIX ", 1, "+* 916 123-45-67"),
        ("+7 916 123-45-67", "prefix", "2", "+* *16 123-45-67"),
        ("+7 916 123-45-67", "prefix", -3, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "prefix", None, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "prefix", False, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "prefix", "many", "+7 916 123-45-67"),
        ("+7 916 123-45-67", None, 3, "+7 916 123-45-67"),
        ("+7 916 123-45-67", "", 3, "+7 916 123-45-67"),
        # Fail closed: an unknown mode hides the number.
        ("+7 916 123-45-67", "partial", 3, ""),
        ("+7 916 123-45-67", 3, 3, ""),
        (None, "none", 0, ""),
        (False, "prefix", 3, ""),
        ("", "prefix", 3, ""),
        (12345, "none", 0, ""),
    ],
)
def test_mask_number(number, mode, count, shown):
    assert mask_number(number, mode, count) == shown


def test_mask_number_default_count():
    assert mask_number("+7 916", "prefix") == "+7 916"


@pytest.mark.parametrize(
    ("policies", "combined"),
    [
        ([], ("none", 0)),
        (None, ("none", 0)),
        ([("none", 0)], ("none", 0)),
        ([("none", 0), ("none", 7)], ("none", 0)),
        ([("none", 0), ("prefix", 3)], ("prefix", 3)),
        ([("prefix", 3), ("prefix", 5), ("prefix", 4)], ("prefix", 5)),
        ([("prefix", 3), ("full", 0), ("prefix", 9)], ("full", 0)),
        ([("full", 0), ("none", 0)], ("full", 0)),
        ([("prefix", 0), ("none", 0)], ("none", 0)),
        ([("prefix", None)], ("none", 0)),
        ([(None, None), (False, False)], ("none", 0)),
        ([("Prefix", "4")], ("prefix", 4)),
        ([("prefix", 2), ("mystery", 0)], ("full", 0)),
        ([None, ("prefix", 2)], ("prefix", 2)),
        ([("full",)], ("full", 0)),
        (iter([("prefix", 1), ("prefix", 2)]), ("prefix", 2)),
    ],
)
def test_mask_policy(policies, combined):
    assert mask_policy(policies) == combined


def test_policy_then_mask():
    mode, count = mask_policy([("none", 0), ("prefix", 5)])
    assert mask_number("+7 916 123-45-67", mode, count) == "+* *** *23-45-67"
