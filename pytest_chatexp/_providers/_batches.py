"""The wire formats of the providers' batch APIs: the OpenAI Batch API (``/v1/files`` and
``/v1/batches``, for chat completions and Responses) and Anthropic's Message Batches
(``/v1/messages/batches``). Wire formats only, as the rest of this layer: what a batch is
created with, how its status reads, and how its result lines map back to each call's answer
(the body a direct call would have got). The HTTP exchange is the calls layer's (``_calls/_batch``).

Checked against the official SDKs' types: ``openai.types.Batch`` and ``BatchCreateParams``,
``anthropic.types.messages.MessageBatch``, ``BatchCreateParams`` and
``MessageBatchIndividualResponse`` (tests/unit/providers/test_batches.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from ._base import Provider, WireRequest

__all__ = [
    "BatchApi",
    "BatchState",
    "LineResult",
    "anthropic_request",
    "anthropic_results",
    "anthropic_state",
    "batch_api_of",
    "openai_create",
    "openai_jsonl",
    "openai_results",
    "openai_state",
]

BatchApi = Literal["openai", "anthropic"]

# A config's provider name -> (its batch API, the endpoint a batch line names). By name, not
# wire format: "openai_compatible" (llama.cpp, vLLM, Ollama...) speaks OpenAI's chat format but
# has no batch API. Azure's batch API takes deployments and its own files: its calls, like
# every other provider's, go direct.
_BATCHED: Final[dict[str, tuple[BatchApi, str]]] = {
    "openai": ("openai", "/v1/chat/completions"),
    "openai_responses": ("openai", "/v1/responses"),
    "anthropic": ("anthropic", "/v1/messages"),
}

# OpenAI batch statuses after which nothing more happens.
_OPENAI_ENDED: Final = frozenset({"completed", "failed", "expired", "cancelled"})


def batch_api_of(provider: str, wire: WireRequest) -> tuple[BatchApi, str] | None:
    """The batch API and line endpoint that can carry this request of a config naming
    ``provider``, or None: a provider without one, or a streamed request (a batch answers with
    whole bodies only)."""
    if wire.streams:
        return None
    return _BATCHED.get(provider)


@dataclass(frozen=True, slots=True)
class BatchState:
    """A batch as one poll reads it."""

    id: str
    ended: bool
    done: int  # lines answered (succeeded or failed)
    total: int
    status: str
    # Where the results are: OpenAI's output and error file ids, Anthropic's results URL.
    results: tuple[str, ...] = ()
    # Why the whole batch failed (OpenAI's validation errors), when it did.
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class LineResult:
    """One call's line of the results: the body a direct call would have got, or why none."""

    custom_id: str
    body: Any = None
    error: str | None = None
    status_code: int | None = None


# --- OpenAI ------------------------------------------------------------------------------


def openai_jsonl(lines: list[tuple[str, str, dict[str, Any]]]) -> bytes:
    """The input file: one ``{custom_id, method, url, body}`` line per (custom id, endpoint,
    body); the body is the direct call's, unchanged."""
    return b"".join(
        json.dumps(
            {"custom_id": custom_id, "method": "POST", "url": url, "body": body},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        + b"\n"
        for custom_id, url, body in lines
    )


def openai_create(file_id: str, endpoint: str) -> dict[str, Any]:
    return {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}


def openai_state(body: Any) -> BatchState:
    """A ``Batch`` object as read by a poll."""
    batch = _object(body, "batch")
    status = str(batch.get("status", ""))
    counts = batch.get("request_counts") or {}
    results = tuple(
        str(batch[name]) for name in ("output_file_id", "error_file_id") if batch.get(name)
    )
    failure = None
    if status == "failed":
        errors = (batch.get("errors") or {}).get("data") or []
        messages = [str(e.get("message")) for e in errors if isinstance(e, dict)]
        failure = "; ".join(messages) or "the batch failed validation"
    return BatchState(
        id=str(batch.get("id", "")),
        ended=status in _OPENAI_ENDED,
        done=int(counts.get("completed", 0)) + int(counts.get("failed", 0)),
        total=int(counts.get("total", 0)),
        status=status,
        results=results,
        failure=failure,
    )


def openai_results(text: str, provider_errors: dict[str, Provider]) -> dict[str, LineResult]:
    """Output or error file lines by custom id. A line answered with an error status carries
    the provider's own message (read by the line's provider, ``provider_errors``)."""
    results: dict[str, LineResult] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        item = _object(json.loads(line), "result line")
        custom_id = str(item.get("custom_id"))
        response = item.get("response")
        error = item.get("error")
        if isinstance(response, dict) and int(response.get("status_code", 0)) < 400:
            results[custom_id] = LineResult(custom_id, body=response.get("body"))
            continue
        if isinstance(response, dict):
            status = int(response.get("status_code", 0))
            provider = provider_errors.get(custom_id)
            detail = provider.error_message(response.get("body")) if provider else None
            message = f"HTTP {status}: {detail or json.dumps(response.get('body'))[:200]}"
            results[custom_id] = LineResult(custom_id, error=message, status_code=status)
        elif isinstance(error, dict):
            code, text_ = error.get("code"), error.get("message")
            results[custom_id] = LineResult(custom_id, error=f"{code}: {text_}")
        else:
            results[custom_id] = LineResult(custom_id, error="the line has no response")
    return results


# --- Anthropic ---------------------------------------------------------------------------


def anthropic_request(lines: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The create request: each call's Messages body as its ``params``, unchanged."""
    return {"requests": [{"custom_id": cid, "params": body} for cid, body in lines]}


def anthropic_state(body: Any) -> BatchState:
    """A ``MessageBatch`` object as read by a poll."""
    batch = _object(body, "message batch")
    counts = batch.get("request_counts") or {}
    names = ("succeeded", "errored", "canceled", "expired")
    done = sum(int(counts.get(name, 0)) for name in names)
    status = str(batch.get("processing_status", ""))
    url = batch.get("results_url")
    return BatchState(
        id=str(batch.get("id", "")),
        ended=status == "ended",
        done=done,
        total=done + int(counts.get("processing", 0)),
        status=status,
        results=(str(url),) if url else (),
    )


def anthropic_results(text: str, provider: Provider) -> dict[str, LineResult]:
    """The results JSONL by custom id: ``succeeded`` carries the message a direct call returns;
    ``errored`` the provider's error; ``canceled`` and ``expired`` say so."""
    results: dict[str, LineResult] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        item = _object(json.loads(line), "result line")
        custom_id = str(item.get("custom_id"))
        result = _object(item.get("result"), "result")
        kind = result.get("type")
        if kind == "succeeded":
            results[custom_id] = LineResult(custom_id, body=result.get("message"))
        elif kind == "errored":
            detail = provider.error_message(result.get("error"))
            results[custom_id] = LineResult(custom_id, error=f"errored: {detail}")
        else:
            results[custom_id] = LineResult(custom_id, error=f"the request was {kind}")
    return results


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"the {what} is not a JSON object: {value!r:.80}")
    return value
