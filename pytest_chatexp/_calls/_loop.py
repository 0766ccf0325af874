"""One sample, call after call: the tool loop and the conversation, as a state machine.

A ``SampleRun`` says which call comes next (``next``), takes its answer (``take``), runs the
tools the model called when they have handlers, and builds the ``Sample`` once nothing is left
to do. It makes no call itself, so the synchronous replay (``_exchange.replay``) and the
runner drive the same machine: replay advances every sample as far as its recordings go, and
the runner carries on from there, so no turn and no tool runs twice.

Turn by turn: the model answers; when it called tools that all run here (or that no config
declares: those get an "unknown tool" error result), their results are appended and the model
is called again; otherwise the next scripted user turn, or the simulated user's next message,
is appended; otherwise the sample is done. ``max_turns`` bounds the model's calls: a sample
that reaches it with work left ends with ``finish_reason="max_turns"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

from .._experiment._humanloop import ChatDataResponse, ChatMessage, ChatRole, ToolCall, Usage
from .._experiment._result import Sample, ToolResult, Turn
from .._experiment._spec import PlannedCall, sample_id
from .._providers import ProviderReply, WireRequest
from ._target import CallOutcome
from ._tools import ToolRun, prepare, tool_messages

__all__ = ["MAX_TURNS_REACHED", "SampleRun"]

MAX_TURNS_REACHED = "max_turns"
# The simulated user sees the conversation from the other side.
_SWAPPED: Final[dict[str, ChatRole]] = {"user": "assistant", "assistant": "user"}


@dataclass(frozen=True, slots=True)
class _Answered:
    """What the sample keeps of its model's last answer beyond the turn: the reply's own ids."""

    call: PlannedCall
    wire: WireRequest
    reply: ProviderReply
    outcome: CallOutcome


class SampleRun:
    """A sample's calls so far and the one to make next."""

    __slots__ = (
        "_draft",
        "_last",
        "_said",
        "_script",
        "_user_messages",
        "_user_turn",
        "finish_reason",
        "first",
        "history",
        "next",
        "pending",
        "turns",
    )

    def __init__(self, call: PlannedCall) -> None:
        self.first = call
        self.history: list[ChatMessage] = list(call.messages)  # as the model under test sees it
        self.turns: list[Turn] = []
        self.pending: list[ToolRun] = []  # tools to run before the next call
        self.finish_reason: str | None = None  # set when the loop, not the model, ended it
        self._script = list(call.loop.script)
        self._user_turn = 0
        # User messages the next model call reads for the first time: the prompt's closing
        # ones, then each scripted or simulated message.
        self._said = _closing_user_messages(call.messages)
        self._user_messages = 0  # written by the simulated user
        self._draft: Turn | None = None  # the last turn, until its tools have run
        self._last: _Answered | None = None
        self.next: PlannedCall | None = call
        if call.loop.user is not None and not any(m.role == "user" for m in self.history):
            self.next = self._user_call()  # nothing said yet: the simulated user opens

    @property
    def done(self) -> bool:
        return self.next is None and not self.pending

    @property
    def calls(self) -> int:
        """Calls this sample made or is making: those answered, and the one in flight (or that
        failed)."""
        return len(self.turns) + (self._draft is not None) + (self.next is not None)

    @property
    def where(self) -> str:
        """The call whose answer the pending tools answer, for their errors."""
        return self._last.call.label if self._last is not None else self.first.label

    # --- answers ---------------------------------------------------------------------------

    def take(
        self, call: PlannedCall, wire: WireRequest, reply: ProviderReply, outcome: CallOutcome
    ) -> None:
        """The answer to ``self.next``: decide what follows it."""
        simulated = call.agent is not None
        turn = Turn(
            index=call.turn,
            message=reply.message,
            finish_reason=reply.finish_reason,
            usage=reply.usage,
            request=wire.body,
            response=outcome.body,
            latency_s=outcome.latency_s,
            first_token_s=outcome.first_token_s,
            retries=outcome.retries,
            replayed=outcome.replayed,
            speaker="user" if simulated else "assistant",
            user_turn=self._user_turn,
            model=_answered_by(call, reply),
            user_messages=() if simulated else tuple(self._said),
            reasoning=reply.reasoning,
            batch=outcome.batch,
        )
        self.next = None
        if simulated:
            self.turns.append(turn)
            self._heard_user(reply.message.text)
            return
        self._said = []
        self._last = _Answered(call, wire, reply, outcome)
        self.history.append(reply.message)
        loop = call.loop
        calls = reply.message.tool_calls or []
        if calls and loop.tools and all(self._runs(tool_call) for tool_call in calls):
            self._draft = turn
            self.pending = [prepare(tool_call, loop.tools) for tool_call in calls]
            return
        self.turns.append(turn)
        if not calls:  # a tool call nobody runs ends the sample with it
            self._answered()

    def _runs(self, call: ToolCall) -> bool:
        """Whether the loop answers ``call``: its tool runs here, or no config declares it (a
        made-up tool gets an error result, as a framework would send)."""
        name = call.function.name
        return name in self.first.loop.tools or all(
            tool.name != name for tool in self.first.config.tools
        )

    def ran(self, results: list[ToolResult]) -> None:
        """The results of ``pending``, in order: send them to the model next."""
        assert self._draft is not None
        self.turns.append(replace(self._draft, tool_results=tuple(results)))
        self._draft, self.pending = None, []
        self.history.extend(tool_messages(results))
        self._continue()

    def _answered(self) -> None:
        """The model answered without a tool call: the next user message, if any."""
        user = self.first.loop.user
        if self._script:
            self._continue(self._script.pop(0))
        elif user is not None and self._user_messages < user.max_messages:
            self.next = self._user_call()

    def _heard_user(self, text: str) -> None:
        user = self.first.loop.user
        assert user is not None
        if not user.is_done(text):
            self._user_messages += 1
            self._continue(ChatMessage(role="user", content=user.message_text(text)))

    def _continue(self, user: ChatMessage | None = None) -> None:
        """Call the model again (after ``user``'s message, if any), unless it has had all its
        turns: then the sample ends, the message unsent."""
        made = sum(turn.speaker == "assistant" for turn in self.turns)
        if made >= self.first.loop.max_turns:
            self.finish_reason = MAX_TURNS_REACHED
            return
        if user is not None:
            if self._last is not None:  # else it is the first message: the simulated user opened
                self._user_turn += 1
            self.history.append(user)
            self._said.append(user)
        self.next = replace(self.first, messages=tuple(self.history), turn=len(self.turns))

    def _user_call(self) -> PlannedCall:
        """The simulated user's call: the conversation so far, roles swapped, text only."""
        loop = self.first.loop
        assert loop.user is not None
        messages = [ChatMessage(role="system", content=loop.user.system_prompt(loop.goal))]
        for message in self.history:
            if message.role in _SWAPPED and message.text:
                messages.append(ChatMessage(role=_SWAPPED[message.role], content=message.text))
        if len(messages) == 1 or messages[1].role != "user":
            # Providers want the user (here: the model under test) to speak first.
            messages.insert(1, ChatMessage(role="user", content="(The conversation starts.)"))
        return PlannedCall(
            loop.user.config,
            self.first.input,
            tuple(messages),
            self.first.sample_index,
            turn=len(self.turns),
            agent=self.first.config,
        )

    # --- the result ------------------------------------------------------------------------

    def sample(self) -> Sample:
        """The sample, once ``done``: the last answer, with every turn behind it."""
        last = self._last
        assert last is not None, "a sample needs an answer from its model"
        call, reply = last.call, last.reply
        turns = tuple(self.turns)
        model_turns = [turn for turn in turns if turn.speaker == "assistant"]
        results = [result.to_humanloop() for turn in model_turns for result in turn.tool_results]
        # Humanloop's own rendering and echo of the inputs, when it answered them: a stored
        # config's server-side template is part of what the model saw.
        log = reply.humanloop
        rendered = log.messages if log is not None and log.messages else list(call.messages)
        data = ChatDataResponse(
            id=reply.log_id or sample_id(call),
            index=call.sample_index,
            output=reply.output if reply.output is not None else reply.raw_output.strip(),
            raw_output=reply.raw_output,
            model_config_id=reply.model_config_id or call.config.model_config_id,
            output_message=reply.message,
            inputs=log.inputs if log is not None else call.input.inputs,
            finish_reason=self.finish_reason or reply.finish_reason,
            tool_results=[*(reply.tool_results or []), *results],
            messages=rendered,
            tool_calls=reply.message.tool_calls,
            tool_call=reply.message.tool_calls[0].function if reply.message.tool_calls else None,
        )
        single = len(turns) == 1
        return Sample(
            data=data,
            usage=reply.usage if single else Usage.combined(t.usage for t in model_turns),
            config=call.config,
            input=call.input,
            provider_request=last.wire.body,
            provider_response=last.outcome.body,
            latency_s=last.outcome.latency_s if single else _sum(t.latency_s for t in model_turns),
            first_token_s=model_turns[0].first_token_s,
            retries=sum(turn.retries for turn in turns),
            replayed=all(turn.replayed for turn in turns),
            turns=turns,
            transcript=tuple(self.history),
            reasoning=_joined(turn.reasoning for turn in model_turns),
            humanloop=log,
        )


def _closing_user_messages(messages: tuple[ChatMessage, ...]) -> list[ChatMessage]:
    """The run of user messages the prompt ends with: what the conversation starts from."""
    start = len(messages)
    while start > 0 and messages[start - 1].role == "user":
        start -= 1
    return list(messages[start:])


def _answered_by(call: PlannedCall, reply: ProviderReply) -> str:
    """The model that answered: the one Humanloop reports calling, else the config's."""
    reported = reply.humanloop.model if reply.humanloop is not None else None
    return reported or call.config.model


def _sum(values: Any) -> float:
    return float(sum(values))


def _joined(texts: Iterable[str | None]) -> str | None:
    """The texts given, joined by a blank line; None when there are none."""
    given = [text for text in texts if text is not None]
    return "\n\n".join(given) if given else None
