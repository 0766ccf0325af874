"""Humanloop's streamed answers: data-only server-sent events, each a ``ChatResponse`` chunk,
samples interleaved, assembled here into one reply per sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import ProviderError
from .._experiment._humanloop import ChatMessage, HumanloopLog, ToolCall, ToolResultResponse, Usage
from .._validation import describe_validation_error
from ._base import ProviderReply, humanloop_finish_reason

__all__ = ["assemble_stream", "pick"]

_T = TypeVar("_T")


def pick(by_index: Mapping[int, _T], *, what: str) -> _T:
    """Sample 0, or the only one: each call asks for one sample."""
    if 0 in by_index:
        return by_index[0]
    if len(by_index) == 1:
        return next(iter(by_index.values()))
    if not by_index:
        raise ProviderError(f"the response has no {what}")
    raise ProviderError(
        f"the response has {len(by_index)} {what} (indexes {sorted(by_index)}) and none is 0"
    )


# --- streams -------------------------------------------------------------------------------


class _Chunk(BaseModel):
    """One ``data`` item of a stream event: every field optional, since chunks are partial."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    index: int = 0
    id: str | None = None
    output: str | None = None
    raw_output: str | None = None
    finish_reason: str | None = None
    model_config_id: str | None = None
    output_message: ChatMessage | None = None
    tool_calls: list[ToolCall] | None = None
    tool_results: list[ToolResultResponse] | None = None
    messages: list[ChatMessage] | None = None
    inputs: dict[str, Any] | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    data: list[_Chunk]
    usage: Usage | None = None
    provider_responses: list[Any] | None = None
    provider_request: dict[str, Any] | None = None
    project_id: str | None = None
    session_id: str | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class _Assembly:
    pieces: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    model_config_id: str | None = None
    tool_calls: list[ToolCall] | None = None
    usage: Usage | None = None
    last_message: ChatMessage | None = None
    log_id: str | None = None
    tool_results: list[ToolResultResponse] | None = None
    # The envelope as the events built it up: each field its last value set.
    log: dict[str, Any] = field(default_factory=dict)

    def add(self, chunk: _Chunk, event: _Event | None) -> None:
        usage = event.usage if event is not None else None
        delta = chunk.raw_output if chunk.raw_output is not None else chunk.output
        if delta:
            self.pieces.append(delta)
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.model_config_id = chunk.model_config_id or self.model_config_id
        calls = chunk.output_message.tool_calls if chunk.output_message is not None else None
        self.tool_calls = calls or chunk.tool_calls or self.tool_calls
        self.usage = usage or self.usage
        self.last_message = chunk.output_message or self.last_message
        self.log_id = chunk.id or self.log_id
        self.tool_results = chunk.tool_results or self.tool_results
        for name, value in (("messages", chunk.messages), ("inputs", chunk.inputs)):
            if value is not None:
                self.log[name] = value
        if event is None:
            return
        for name in ("provider_request", "project_id", "session_id", "user", "metadata"):
            if getattr(event, name) is not None:
                self.log[name] = getattr(event, name)
        if event.provider_responses:
            self.log["provider_responses"] = event.provider_responses

    def reply(self) -> ProviderReply:
        text = "".join(self.pieces)
        content = text if text or not self.tool_calls else None
        # The final chunk's message, as Humanloop shapes it, with the whole text.
        base = self.last_message or ChatMessage(role="assistant")
        message = base.model_copy(update={"content": content, "tool_calls": self.tool_calls})
        return ProviderReply(
            message=message,
            raw_output=text,
            finish_reason=humanloop_finish_reason(self.finish_reason),
            usage=self.usage or Usage(),
            model_config_id=self.model_config_id,
            log_id=self.log_id,
            output=text.strip(),
            tool_results=self.tool_results,
            humanloop=HumanloopLog.model_validate(self.log),
        )


def assemble_stream(events: Sequence[Any]) -> dict[int, ProviderReply]:
    """The replies a Humanloop stream adds up to, by sample index.

    Each event is a ``ChatResponse`` whose single ``data`` item is one sample's chunk; samples
    interleave, told apart by ``index``. A sample's text is its chunks' deltas joined
    (``raw_output``, else ``output``), its finish reason the last one set (Humanloop sets it on
    the final chunk only), its tool calls and model config id the last ones sent, and its usage
    the last ``usage`` of an event carrying only its chunk.
    """
    samples: dict[int, _Assembly] = {}
    for position, raw in enumerate(events):
        try:
            event = _Event.model_validate(raw)
        except ValidationError as exc:
            raise ProviderError(
                f"stream event {position} is not a Humanloop ChatResponse chunk: "
                + describe_validation_error(exc)
            ) from None
        # An event's envelope (usage, provider exchange) is one sample's only when it carries
        # that sample's chunk alone.
        own = event if len(event.data) == 1 else None
        for chunk in event.data:
            samples.setdefault(chunk.index, _Assembly()).add(chunk, own)
    return {index: samples[index].reply() for index in sorted(samples)}
