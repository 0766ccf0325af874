"""Assertion helpers over an experiment's samples (filled in below as check modules land)."""

from __future__ import annotations

from ._verdict import CaseVerdict, SampleCheck, assert_samples, verdicts

__all__ = ["CaseVerdict", "SampleCheck", "assert_samples", "verdicts"]
