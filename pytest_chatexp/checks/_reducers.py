"""Reducers: named policies turning a case's sample outcomes into its verdict.

``assert_samples(..., reducer=c.pass_at_k(3))`` judges each case by what its samples say about
the question the test asks, instead of by the raw pass rate:

- ``pass_at_k(k)``: would at least one of k tries pass? (code generation's pass@k)
- ``pass_hat_k(k)``: would all k tries pass? (pass^k, the reliability an agent needs)
- ``at_least(k)``: did at least k samples pass?
- ``majority()``: did more than half of the samples pass?

pass@k and pass^k are estimated from n samples of which c passed with the unbiased estimators
(Chen et al. 2021, "Evaluating Large Language Models Trained on Code"):
pass@k = 1 - C(n-c, k) / C(n, k) and pass^k = C(c, k) / C(n, k), the probability that k
samples drawn without replacement from the n contain a pass, or are all passes. The estimate is
held to ``min_pass_rate``. The other two decide a case by themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

__all__ = ["Reducer", "at_least", "majority", "pass_at_k", "pass_hat_k"]


class _Kind(Enum):
    PASS_AT_K = "pass@k"
    PASS_HAT_K = "pass^k"
    AT_LEAST = "at_least"
    MAJORITY = "majority"


@dataclass(frozen=True)
class Reducer:
    """A verdict policy for ``assert_samples(reducer=...)``; made by ``pass_at_k``,
    ``pass_hat_k``, ``at_least`` and ``majority``."""

    kind: _Kind
    k: int = 1

    @property
    def label(self) -> str:
        """How reports and failures name it: ``pass@3``, ``pass^3``, ``at_least(2)``,
        ``majority``."""
        if self.kind is _Kind.PASS_AT_K:
            return f"pass@{self.k}"
        if self.kind is _Kind.PASS_HAT_K:
            return f"pass^{self.k}"
        if self.kind is _Kind.AT_LEAST:
            return f"at_least({self.k})"
        return "majority"

    @property
    def uses_bar(self) -> bool:
        """Whether the verdict holds an estimate to ``min_pass_rate`` (pass@k, pass^k)."""
        return self.kind in (_Kind.PASS_AT_K, _Kind.PASS_HAT_K)

    @property
    def needs(self) -> int:
        """The fewest samples a case must have for this reducer to judge it."""
        return 1 if self.kind is _Kind.MAJORITY else self.k

    def estimate(self, passed: int, total: int) -> float | None:
        """pass@k or pass^k estimated from ``passed`` of ``total`` samples; None for the
        reducers that count (at_least, majority)."""
        if self.kind is _Kind.PASS_AT_K:
            return pass_at_k_estimate(passed, total, self.k)
        if self.kind is _Kind.PASS_HAT_K:
            return pass_hat_k_estimate(passed, total, self.k)
        return None

    def holds(self, passed: int, total: int, min_pass_rate: float) -> bool:
        """Whether a case with ``passed`` of ``total`` samples passing meets this policy."""
        estimate = self.estimate(passed, total)
        if estimate is not None:
            return estimate + 1e-9 >= min_pass_rate
        if self.kind is _Kind.AT_LEAST:
            return passed >= self.k
        return 2 * passed > total

    def requirement(self, min_pass_rate: float) -> str:
        """What a case needs, for the failure's first line."""
        if self.uses_bar:
            return f"{self.label} of at least {min_pass_rate:.0%}"
        if self.kind is _Kind.AT_LEAST:
            return f"at least {self.k} passing sample{'s' if self.k != 1 else ''}"
        return "more than half of the samples passing"


def pass_at_k_estimate(passed: int, total: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): the chance that k of the samples, drawn without replacement,
    hold at least one pass."""
    _check(passed, total, k)
    if total - passed < k:
        return 1.0
    return 1.0 - math.comb(total - passed, k) / math.comb(total, k)


def pass_hat_k_estimate(passed: int, total: int, k: int) -> float:
    """C(c, k) / C(n, k): the chance that k of the samples, drawn without replacement, all
    pass."""
    _check(passed, total, k)
    return math.comb(passed, k) / math.comb(total, k)


def _check(passed: int, total: int, k: int) -> None:
    if not 0 <= passed <= total or not 1 <= k <= total:
        raise ValueError(
            f"need 0 <= passed <= total and 1 <= k <= total, got {passed}, {total}, {k}"
        )


def _k(k: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"{what}(k): k must be a whole number >= 1, got {k!r}")
    if k < 1:
        raise ValueError(f"{what}(k): k must be a whole number >= 1, got {k!r}")
    return k


def pass_at_k(k: int) -> Reducer:
    """A case passes when pass@k, the chance that at least one of k tries passes (estimated
    without bias from all the samples), is at least ``min_pass_rate``. Needs k <= num_samples."""
    return Reducer(_Kind.PASS_AT_K, _k(k, "pass_at_k"))


def pass_hat_k(k: int) -> Reducer:
    """A case passes when pass^k, the chance that k tries all pass (estimated without bias from
    all the samples), is at least ``min_pass_rate``. Needs k <= num_samples."""
    return Reducer(_Kind.PASS_HAT_K, _k(k, "pass_hat_k"))


def at_least(k: int) -> Reducer:
    """A case passes when at least k of its samples pass every check."""
    return Reducer(_Kind.AT_LEAST, _k(k, "at_least"))


def majority() -> Reducer:
    """A case passes when more than half of its samples pass every check."""
    return Reducer(_Kind.MAJORITY)
