"""Throughput of telephony.numbers on one core: ``python bench/bench_numbers.py``.

100k numbers, generated deterministically (random.Random(1)), mixing the usual
Russian forms (local 7-digit, 8-prefixed long distance, mobiles with and
without "+7", toll-free, 810 abroad) with a few foreign ones and some garbage.
Almost all are distinct, so the main figures are the cold path; the "hot"
figures replay 2,000 numbers 50 times, which the per-plan cache serves (real
call traffic repeats numbers a lot).  Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from telephony.numbers import DialPlan, DialRefused, normalize_incoming  # noqa: E402


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def generate(count: int, seed: int = 1) -> list[str]:
    """Mixed raw numbers as users type them and trunks present them."""
    rng = random.Random(seed)
    formats: list[Callable[[], str]] = [
        lambda: f"{rng.randint(200, 999)}-{_digits(rng, 2)}-{_digits(rng, 2)}",
        lambda: f"8 (812) {_digits(rng, 3)}-{_digits(rng, 2)}-{_digits(rng, 2)}",
        lambda: f"8 (495) {_digits(rng, 3)}-{_digits(rng, 2)}-{_digits(rng, 2)}",
        lambda: f"+7 9{_digits(rng, 2)} {_digits(rng, 3)}-{_digits(rng, 2)}-{_digits(rng, 2)}",
        lambda: f"8 9{_digits(rng, 2)} {_digits(rng, 7)}",
        lambda: f"89{_digits(rng, 9)}",
        lambda: f"79{_digits(rng, 9)}",
        lambda: f"8-800-{_digits(rng, 3)}-{_digits(rng, 2)}-{_digits(rng, 2)}",
        lambda: f"810 1 212 {rng.randint(200, 999)} {_digits(rng, 4)}",
        lambda: f"+44 20 7{_digits(rng, 3)} {_digits(rng, 4)}",
        lambda: f"+49 30 {_digits(rng, 7)}",
        lambda: f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
        lambda: f"+7 7172 {_digits(rng, 6)}",
        lambda: rng.choice(["", "abc", "12", "+", "8 916 CALL-ME", _digits(rng, 30)]),
    ]
    weights = [14, 8, 8, 14, 8, 8, 6, 4, 6, 6, 4, 4, 2, 2]
    return [rng.choices(formats, weights)[0]() for _ in range(count)]


def _time(label: str, numbers: list[str], call: Callable[[str], object]) -> float:
    started = time.perf_counter()
    for number in numbers:
        call(number)
    elapsed = time.perf_counter() - started
    rate = len(numbers) / elapsed
    print(f"{label:<44} {rate:>10,.0f} numbers/s  ({elapsed * 1e6 / len(numbers):.1f} us each)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()

    numbers = generate(args.count)
    plan = DialPlan(
        region="RU",
        city_code="495",
        exit_prefix="810",
        banned_codes=["+1 900"],
        local_length=7,
        patterns=["_8XXXXXXXXXX", "_810X."],
        replace="^7/8",
    )
    outcomes: Counter[str] = Counter()

    def prepare(number: str) -> None:
        try:
            outcomes[plan.prepare(number).direction] += 1
        except DialRefused as refused:
            outcomes[f"refused: {refused.reason}"] += 1

    hot = numbers[:2_000] * 50
    print(
        f"{len(numbers):,} numbers, {len(set(numbers)):,} distinct; Python {sys.version.split()[0]}"
    )
    _time("prepare (cold: distinct numbers)", numbers, prepare)
    _time("prepare (hot: 2,000 numbers x 50)", hot, prepare)
    plan = plan.with_replace("^7/8")  # a fresh plan: empty caches
    _time("normalize_incoming (cold)", numbers, lambda number: normalize_incoming(number, plan))
    _time("normalize_incoming (hot)", hot, lambda number: normalize_incoming(number, plan))
    print("outcomes of prepare (both runs):")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:<22} {count:>8,}")


if __name__ == "__main__":
    main()
