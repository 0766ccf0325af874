"""What a recording holds: each call's ``Label`` and credential-free ``RecordedRequest`` (a
``Call``, which the runner looks up by fingerprint), and the ``Interaction`` answering it. The
file that keeps them is ``_store``'s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._fingerprint import fingerprint

__all__ = ["Call", "Interaction", "Label", "RecordedRequest"]


@dataclass(frozen=True, slots=True)
class Label:
    """Which call of the experiment an interaction answers, for people and for miss reports.

    ``turn`` numbers the model calls of one sample (a tool loop, a conversation); a sample's
    first call is turn 0, which the file leaves unwritten, as files before turns did.
    ``simulated_user`` marks the calls of a simulated user (written only when true).
    """

    config: str
    input: str
    sample: int
    turn: int = 0
    simulated_user: bool = False

    def describe(self) -> str:
        """``model config 'support-v2', input 'refund', sample 0`` (``, turn 2``)."""
        text = f"model config '{self.config}', input '{self.input}', sample {self.sample}"
        text = f"{text}, turn {self.turn}" if self.turn else text
        return f"{text} (simulated user)" if self.simulated_user else text

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"config": self.config, "input": self.input, "sample": self.sample}
        if self.turn:
            data["turn"] = self.turn
        if self.simulated_user:
            data["simulated_user"] = True
        return data


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """The credential-free request: provider kind, endpoint (host and path) and JSON body."""

    provider: str
    endpoint: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """A call the runner needs answered: look up ``fingerprint``, record it with a response."""

    label: Label
    request: RecordedRequest

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            provider=self.request.provider,
            endpoint=self.request.endpoint,
            body=self.request.body,
            sample_index=self.label.sample,
            turn=self.label.turn,
        )


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded call.

    ``response`` is free-form so streams can add ``chunks`` later; it always holds ``body`` (the
    decoded JSON answer) and ``latency_s`` (seconds, rounded to 3 decimals when saved).
    """

    fingerprint: str
    label: Label
    request: RecordedRequest
    response: Mapping[str, Any]

    @classmethod
    def record(cls, call: Call, *, body: Any, latency_s: float, **extra: Any) -> Interaction:
        """The interaction answering ``call``; ``extra`` adds response fields such as chunks.

        Latency is rounded as it will be saved, so the interaction equals its reloaded self.
        """
        response = {"body": body, "latency_s": round(latency_s, 3), **extra}
        return cls(call.fingerprint, call.label, call.request, response)
