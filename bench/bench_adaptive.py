"""Benchmark: adaptive sampling against fixed sample counts, by simulation (no network, no pytest).

Many synthetic cases, each with a known true pass rate drawn uniformly from [0, 1] (a mixed
population: most cases far from the bar, some near it), bar 0.8. Each case gets one stream of
20 Bernoulli samples at its rate; every procedure reads a prefix of the same stream (common
random numbers, so differences between rows are the procedures', not the draws'):

* fixed N = 3, 5, 10, 20: PASS when the raw pass rate of the first N samples reaches the bar;
* adaptive (min 3, max 20, confidence 0.95): ``checks/_sequential.py``'s ``next_step`` after
  every sample from the 3rd. A case the test does not settle gets the raw-rate verdict at 20,
  so verdicts are comparable; it stops at 20, or earlier once the remaining samples cannot
  change that verdict (curtailment). How many such cases there were is printed separately.

A verdict is wrong when it says PASS for a true rate below the bar or FAIL for one at or above
it. Printed per row: the wrong-verdict rate and the mean samples per case; for the adaptive row
also the wrong rate among the verdicts the test settled, which the method bounds by
1 - confidence at every true rate. Then the issue's target: adaptive at 95% has **at most the
error rate of fixed N = 20 with at most half its samples**, each ratio next to its target with
``meets`` or ``misses``. A second table shows, at fixed true rates near the bar (where the
guarantee is tightest), how often a settled verdict is wrong.

Run: ``.venv/bin/python bench/bench_adaptive.py`` (``--quick``: 5,000 cases instead of 200,000;
``--seed``). Standard library plus the plugin's own pure-Python statistics; about 5 s.
"""

from __future__ import annotations

import argparse
import platform
import time
from random import Random

from pytest_chatexp.checks._sequential import (
    AdaptivePlan,
    Step,
    next_step,
    raw_verdict,
)

BAR = 0.8
FIXED = (3, 5, 10, 20)
PLAN = AdaptivePlan(minimum=3, maximum=20, bar=BAR, confidence=0.95)
NEAR_BAR = (0.6, 0.7, 0.75, 0.79, 0.8, 0.85, 0.9)


def _table(plan: AdaptivePlan) -> dict[tuple[int, int], Step]:
    """``next_step`` for every (passed, total): the simulation looks decisions up."""
    return {
        (passed, total): next_step(passed, total, plan)
        for total in range(plan.minimum, plan.maximum + 1)
        for passed in range(total + 1)
    }


def _adaptive(stream: list[bool], table: dict[tuple[int, int], Step]) -> tuple[bool, int, bool]:
    """(verdict is PASS, samples drawn, settled by the test rather than by the raw rate)."""
    passed = sum(stream[: PLAN.minimum])
    total = PLAN.minimum
    while True:
        step = table[(passed, total)]
        if step is Step.PASS:
            return True, total, True
        if step is Step.FAIL:
            return False, total, True
        if step is Step.UNDECIDED:
            verdict = raw_verdict(passed, total, BAR) is Step.PASS
            # Curtailment stops only when the raw rate at the maximum is already certain.
            assert verdict == (raw_verdict(sum(stream), PLAN.maximum, BAR) is Step.PASS)
            return verdict, total, False
        passed += stream[total]
        total += 1


def simulate(cases: int, seed: int) -> None:
    rng = Random(seed)
    table = _table(PLAN)
    wrong_fixed = dict.fromkeys(FIXED, 0)
    wrong = drawn = undecided = at_maximum = early = wrong_early = 0
    started = time.perf_counter()
    for _ in range(cases):
        rate = rng.random()
        truth = rate >= BAR
        stream = [rng.random() < rate for _ in range(PLAN.maximum)]
        for size in FIXED:
            verdict = sum(stream[:size]) / size + 1e-9 >= BAR
            wrong_fixed[size] += verdict != truth
        verdict, samples, decided = _adaptive(stream, table)
        wrong += verdict != truth
        drawn += samples
        if decided:
            early += 1
            wrong_early += verdict != truth
        else:
            undecided += 1
            at_maximum += samples == PLAN.maximum
    elapsed = time.perf_counter() - started
    print(f"{cases:,} cases, true pass rates uniform on [0, 1], bar {BAR:.0%}, seed {seed}")
    print(f"{'procedure':<38} {'wrong verdicts':>14} {'mean samples':>13}")
    for size in FIXED:
        print(f"{f'fixed N={size}':<38} {wrong_fixed[size] / cases:>14.2%} {size:>13.2f}")
    label = f"adaptive {PLAN.minimum}..{PLAN.maximum} at {PLAN.confidence:.0%}"
    print(f"{label:<38} {wrong / cases:>14.2%} {drawn / cases:>13.2f}")
    print(
        f"  settled by the test: {early:,} ({early / cases:.1%}), wrong among them "
        f"{wrong_early / max(early, 1):.3%} (guarantee: at most {1 - PLAN.confidence:.0%} "
        "at every true rate)"
    )
    print(
        f"  not settled by the test (raw-rate verdict): {undecided:,} ({undecided / cases:.1%}), "
        f"of which {at_maximum:,} ({at_maximum / cases:.1%}) drew all {PLAN.maximum} and "
        f"{undecided - at_maximum:,} stopped once the raw rate at {PLAN.maximum} was certain"
    )
    error_ratio = (wrong / cases) / (wrong_fixed[20] / cases)
    sample_ratio = (drawn / cases) / 20
    print("target: adaptive at 95% vs fixed N=20")
    print(
        f"  error rate ratio   {error_ratio:.3f}  target <= 1.00  "
        f"{'meets' if error_ratio <= 1.0 else 'misses'}"
    )
    print(
        f"  samples ratio      {sample_ratio:.3f}  target <= 0.50  "
        f"{'meets' if sample_ratio <= 0.5 else 'misses'}"
    )
    print(f"({elapsed:.1f} s)")


def near_bar(per_rate: int, seed: int) -> None:
    """At fixed true rates near the bar: how often a settled verdict is wrong, and samples."""
    rng = Random(seed + 1)
    table = _table(PLAN)
    print(f"\nat fixed true rates ({per_rate:,} cases each): settled verdicts and their errors")
    print(
        f"{'true rate':>9} {'settled %':>9} {'wrong settled %':>15} {'wrong %':>8} "
        f"{'mean samples':>13}"
    )
    for rate in NEAR_BAR:
        truth = rate >= BAR
        early = wrong_early = wrong = drawn = 0
        for _ in range(per_rate):
            stream = [rng.random() < rate for _ in range(PLAN.maximum)]
            verdict, samples, decided = _adaptive(stream, table)
            drawn += samples
            wrong += verdict != truth
            if decided:
                early += 1
                wrong_early += verdict != truth
        print(
            f"{rate:>9.2f} {early / per_rate:>9.1%} {wrong_early / per_rate:>15.3%} "
            f"{wrong / per_rate:>8.1%} {drawn / per_rate:>13.2f}"
        )
    print("(wrong settled % is of all cases at that rate; the guarantee bounds it by 5%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 cases: a smoke run")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    cases = 5_000 if args.quick else 200_000
    simulate(cases, args.seed)
    near_bar(1_000 if args.quick else 20_000, args.seed)


if __name__ == "__main__":
    main()
