"""The reply engine: decides *what* the reference model answers, in no wire format.

Every wire-format handler (OpenAI, Anthropic, Humanloop) translates its request into an
OpenAI-like body (tool results are ``{"role": "tool", "tool_call_id", "content"}`` messages),
asks the same :class:`ReplyEngine` for an :class:`~._replies.Answer` and only renders it, so
scripted replies behave identically whichever API a test talks to. The first source that
applies wins:

1. rules registered from Python with :meth:`ReplyEngine.add_rule`;
2. an agent plan: ``[[step: ...]]`` directives in the last user message, played one step per
   model call, then a final reply quoting the tool results (see :mod:`._plans`);
3. other directives in the last user message (``[[reply: ...]]``, ``[[tool: ...]]``,
   ``[[tokens: N]]``), for tests in another process that cannot reach the server object;
4. a ``tool_choice`` that forces a function call;
5. ``response_format: {"type": "json_object"}``;
6. an echo of the last user message.

Everything is a pure function of the request, so the same request always gets the
same answer, whatever its ``temperature``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pytest_chatexp.testing._plans import directive_plan
from pytest_chatexp.testing._replies import (
    Answer,
    Condition,
    JsonObject,
    Reply,
    ReplySource,
    directive_reply,
    echo_reply,
    finish,
    forced_tool_reply,
    json_object_reply,
    last_user_text,
)

__all__ = ["ReplyEngine"]


@dataclass(frozen=True, slots=True)
class _Rule:
    reply: ReplySource
    when: Condition

    def applies(self, request: JsonObject, user_text: str) -> bool:
        if self.when is None:
            return True
        if isinstance(self.when, str):
            return self.when in user_text
        return bool(self.when(request))

    def produce(self, request: JsonObject) -> Reply:
        reply = self.reply(request) if callable(self.reply) else self.reply
        return Reply(text=reply) if isinstance(reply, str) else reply


class ReplyEngine:
    """Chooses and finalises replies; rules may be changed from any thread at any time."""

    def __init__(self) -> None:
        # Copy-on-write tuple: the event loop reads it without taking the lock.
        self._rules: tuple[_Rule, ...] = ()
        self._lock = threading.Lock()

    def add_rule(self, reply: ReplySource, *, when: Condition = None) -> None:
        """Register a rule; rules are tried in registration order, first match wins."""
        with self._lock:
            self._rules = (*self._rules, _Rule(reply, when))

    def clear_rules(self) -> None:
        """Forget every registered rule."""
        with self._lock:
            self._rules = ()

    def answer(self, request: JsonObject) -> Answer:
        """Answer a validated chat request (``messages`` is a list of message objects).

        Raises :class:`~._plans.DirectiveError` for a plan directive it cannot read.
        """
        return finish(request, self._choose(request, last_user_text(request["messages"])))

    def _choose(self, request: JsonObject, user_text: str) -> Reply:
        for rule in self._rules:
            if rule.applies(request, user_text):
                return rule.produce(request)
        plan = directive_plan(user_text)
        if plan is not None:
            return plan(request)
        return (
            directive_reply(user_text)
            or forced_tool_reply(request)
            or json_object_reply(request, user_text)
            or echo_reply(request, user_text)
        )
