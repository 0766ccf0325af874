"""The OpenAI Responses API's server-sent events read as one response, and its error shapes:
what ``_responses`` reads besides a plain answer.

``response.completed`` (or ``response.incomplete``) carries the whole response and is used as
sent. What the events before it said is assembled too: output items, text and argument deltas,
and reasoning summaries (``response.reasoning_summary_part.added``, ``..._text.delta``,
``..._text.done``, ``..._part.done``). That assembly stands in for the final event's output when
the stream was cut before it, or when a server's final event lists no output or a reasoning
item without the summary its deltas told, so the sample's reasoning is kept either way.
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import ProviderError

__all__ = ["assemble_stream", "error_text"]


def error_text(body: Any) -> str | None:
    """The provider's message in an error body, a stream's ``error`` event or a failed
    response; None when there is none."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message: str = error["message"]
        return message
    if isinstance(error, str):
        return error
    if body.get("type") == "error" and isinstance(body.get("message"), str):
        text: str = body["message"]  # a stream's ``error`` event
        return text
    response = body.get("response")
    return error_text(response) if isinstance(response, dict) else None


def assemble_stream(events: list[Any]) -> dict[str, Any]:
    """The response a stream's events describe (see the module's docstring). ``response.failed``
    and ``error`` events raise ProviderError with the provider's message. The events are not
    changed: what is assembled is copied out of them."""
    final: dict[str, Any] | None = None
    items: dict[int, dict[str, Any]] = {}
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise ProviderError(f"stream event {position} is not a JSON object: {event!r:.80}")
        kind = event.get("type")
        if kind in ("error", "response.failed"):
            detail = error_text(event) or json.dumps(event)[:200]
            raise ProviderError(f"the stream reported an error: {detail}")
        if kind in ("response.completed", "response.incomplete"):
            final = _object(event.get("response"), f"stream event {position}: response")
        elif kind in ("response.output_item.added", "response.output_item.done"):
            sent = _object(event.get("item"), f"stream event {position}: item")
            item = json.loads(json.dumps(sent))  # a copy: the summary may grow in place
            known = items.get(_index(event, position), {})
            if item.get("type") == "reasoning" and not item.get("summary") and known.get("summary"):
                item["summary"] = known["summary"]  # told by its deltas, not repeated here
            items[_index(event, position)] = item
        elif kind == "response.output_text.delta":
            item = items.setdefault(_index(event, position), {"type": "message", "content": []})
            if not item.get("content"):
                item["content"] = [{"type": "output_text", "text": ""}]
            item["content"][-1]["text"] = str(item["content"][-1].get("text") or "") + _delta(
                event, position
            )
        elif kind == "response.function_call_arguments.delta":
            item = items.setdefault(_index(event, position), {"type": "function_call"})
            item["arguments"] = str(item.get("arguments") or "") + _delta(event, position)
        elif isinstance(kind, str) and kind.startswith("response.reasoning_summary_"):
            _summary_event(items, event, kind, position)
    if final is None:
        # A cut stream (stream_finished said so, and it was retried as long as allowed): what
        # arrived, with a finish reason saying so rather than passing for a normal end.
        return {
            "status": "incomplete",
            "incomplete_details": {"reason": "stream_ended_early"},
            "output": [items[i] for i in sorted(items)],
        }
    output = final.get("output")
    if not output and items:
        return {**final, "output": [items[i] for i in sorted(items)]}
    if isinstance(output, list):
        return {**final, "output": _with_summaries(output, items)}
    return final


def _summary_event(
    items: dict[int, dict[str, Any]], event: dict[str, Any], kind: str, position: int
) -> None:
    """One reasoning-summary event into its item's ``summary``: a text delta appended; a text
    done or a part with text (the whole text) replaces what the deltas made."""
    item = items.setdefault(_index(event, position), {"type": "reasoning", "summary": []})
    summary = item.setdefault("summary", [])
    place = event.get("summary_index")
    if not isinstance(place, int) or isinstance(place, bool) or place < 0:
        raise ProviderError(f"stream event {position} ({kind}) has no summary_index")
    while len(summary) <= place:
        summary.append({"type": "summary_text", "text": ""})
    part = summary[place]
    if kind == "response.reasoning_summary_text.delta":
        part["text"] = str(part.get("text") or "") + _delta(event, position)
    elif kind == "response.reasoning_summary_text.done" and isinstance(event.get("text"), str):
        part["text"] = event["text"]
    elif kind in ("response.reasoning_summary_part.added", "response.reasoning_summary_part.done"):
        sent = event.get("part")
        if isinstance(sent, dict) and sent.get("text"):  # an empty part keeps the deltas' text
            summary[place] = {"type": "summary_text", **sent}


def _with_summaries(output: list[Any], items: dict[int, dict[str, Any]]) -> list[Any]:
    """The final output, a reasoning item sent without its summary given the one its deltas
    told (same place in the output)."""
    merged = list(output)
    for place, item in enumerate(merged):
        told = items.get(place, {})
        if (
            isinstance(item, dict)
            and item.get("type") == "reasoning"
            and not item.get("summary")
            and told.get("type") == "reasoning"
            and told.get("summary")
        ):
            merged[place] = {**item, "summary": told["summary"]}
    return merged


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderError(f"{where} is not an object: {value!r:.80}")
    return value


def _index(event: dict[str, Any], position: int) -> int:
    index = event.get("output_index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ProviderError(f"stream event {position} ({event.get('type')}) has no output_index")
    return index


def _delta(event: dict[str, Any], position: int) -> str:
    delta = event.get("delta")
    if not isinstance(delta, str):
        raise ProviderError(f"stream event {position}: expected a text delta, got {delta!r:.80}")
    return delta
