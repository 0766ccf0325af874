"""Record modes at the runner's exchange seam: one ``TestRecorder`` per test item.

The recorder sees each request a provider built, before any HTTP. It answers from the test's
recording when the mode allows and a recording matches, calls the provider when the mode allows
recording, and otherwise fails with an explanation of what changed since the recording.

| mode   | replays matches | records misses                          | rewrites the file      |
|--------|-----------------|-----------------------------------------|------------------------|
| none   | yes             | no: a miss fails the test               | never                  |
| once   | yes             | only when the test has no recording yet | when it recorded       |
| new    | yes             | yes                                     | drops stale entries    |
| all    | no              | yes, every call                         | becomes exactly new    |
| off    | no              | no: every call is live, nothing read    | never                  |
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from .._errors import ChatexpError, RecordingError
from .._experiment._spec import PlannedCall
from .._pricing import PriceTable
from .._providers import Provider, ProviderReply, WireRequest
from .._recording import (
    Call,
    Interaction,
    Label,
    RecordedRequest,
    RecordingFile,
    check_writable,
    moved_endpoint,
    update,
)
from .._recording._diff import Miss, explain_miss
from .._recording._renamed import Orphan, Orphans
from .._redaction import known_secrets
from .._util import endpoint_identity
from ._changes import Answer, ChangeRecord
from ._checkpoint import Checkpoints
from ._exchange import endpoint_fix, keep_recorded_ids
from ._misses import MissedCalls, RecordingMissError
from ._target import AppHttp, CallOutcome, Exchange, Via

__all__ = ["ChangeRecord", "RecordingMissError", "TestRecorder", "recorded_call_of"]


def recorded_call_of(call: PlannedCall, via: Via, wire: WireRequest) -> Call:
    """A planned call as the recording knows it: label and credential-free request."""
    return Call(
        label=Label(
            config=call.case_config.display_name,
            input=str(call.input.id),
            sample=call.sample_index,
            turn=call.turn,
            simulated_user=call.agent is not None,
        ),
        request=RecordedRequest(
            provider=via.kind, endpoint=endpoint_identity(wire.url), body=wire.body
        ),
    )


class UnwritableRecordingError(RecordingError):
    """Answers could not be saved: said once for the experiment, not once per call."""

    takes_precedence = True


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a folder on the way cannot be searched: reading it will say why
        return True


class TestRecorder:
    """Applies the record mode to one test item's calls, across all of its experiments."""

    __test__ = False  # not a test class, whatever pytest's name-based discovery thinks

    def __init__(
        self,
        *,
        path: Path,
        display_path: str,
        test_id: str,
        mode: str,
        rerun_hint: str,
        prices: PriceTable | None = None,
        orphans: Orphans | None = None,
        defined: Callable[[str], bool] | None = None,
        adopt: bool = False,
        checkpoints: bool = True,
    ) -> None:
        """``orphans`` are the session's recordings of tests that no longer exist, ``defined``
        telling which: when this test has none (a renamed test), they are looked at; ``adopt``
        moves the one holding a call's request to this test."""
        self.path = path
        self.display_path = display_path
        self.test_id = test_id
        self.mode = mode
        self.rerun_hint = rerun_hint
        self.prices = prices if prices is not None else PriceTable()
        self._file: RecordingFile | None = None
        self._existed = _exists(path)
        self._orphans = orphans
        self._defined = defined
        self._adopt = adopt
        self.adopted: str | None = None  # which recording this test took over, as shown
        self._unwritable: str | None = None  # why recording here fails, once checked
        self._writable_checked = False
        self._written: RecordingFile | None = None  # what ``persist`` wrote last
        self.used: dict[str, Interaction] = {}
        self.recorded: dict[str, Interaction] = {}
        # Calls answered anew, with their tokens and costs before and after, for the reports.
        self.changes: list[ChangeRecord] = []
        # Inputs a subsample left out of the test's experiments: their entries are neither
        # stale nor dropped, since this run could not have used them.
        self.left_out: set[str] = set()
        # Answers to calls that had none are written while the experiment runs, so a killed
        # run keeps them (``_checkpoint``). Not in mode all, whose answers replace recorded
        # ones: a killed re-recording must leave the old recording whole.
        self._checkpoints = (
            Checkpoints(self._checkpoint) if checkpoints and mode in ("once", "new") else None
        )

    @property
    def file(self) -> RecordingFile:
        if self._file is None:
            self._file = RecordingFile.load(self.path) if self._existed else RecordingFile()
        return self._file

    def live_exchange(self) -> Exchange:
        """``exchange``, for the calls a replay left: the recording is read and indexed, and
        its folder checked, now, in the caller's thread, not on the runner's event loop at its
        first live call."""
        if self.may_record():
            self._writable()  # said at the first live call, as before
            # A file that cannot be read fails the calls that need it, as it always did (a
            # folder at its path says first that the answers could not be saved).
            with contextlib.suppress(ChatexpError):
                self._by_label  # noqa: B018  (reads the file too)
        return self.exchange

    @functools.cached_property
    def _by_label(self) -> dict[Label, Interaction]:
        """The recording's first interaction (in file order) of each label, indexed once: a
        call answered anew finds the answer it replaces without scanning the file, so
        re-recording stays linear in the number of calls."""
        index: dict[Label, Interaction] = {}
        for item in self.file.interactions:
            index.setdefault(item.label, item)
        return index

    async def exchange(
        self,
        call: PlannedCall,
        via: Via,
        wire: WireRequest,
        send: Callable[[], Awaitable[CallOutcome]],
    ) -> CallOutcome:
        recorded_call = recorded_call_of(call, via, wire)
        replayed = self._replay(recorded_call)
        if replayed is not None:
            return replayed
        if not self.may_record():
            raise self._miss(recorded_call, fix=self._endpoint_fix(call, via, wire, recorded_call))
        self._check_writable()
        outcome = await send()
        previous = self.file.get(recorded_call.fingerprint)
        # Not for an app's own HTTP calls: an app may send an answer's ids back in its next one.
        if previous is not None and not isinstance(via, AppHttp):
            body = keep_recorded_ids(previous.response["body"], outcome.body)
            outcome = dataclasses.replace(outcome, body=body)
        extra = (
            {}
            if outcome.first_token_s is None
            else {"first_token_s": round(outcome.first_token_s, 3)}
        )
        interaction = Interaction.record(
            recorded_call, body=outcome.body, latency_s=outcome.latency_s, **extra
        )
        self.recorded[interaction.fingerprint] = interaction
        if self._checkpoints is not None:
            self._checkpoints.add(interaction)
        if not isinstance(via, AppHttp):  # no model reply: no tokens to compare
            self._note_change(recorded_call, call.config.model, via, outcome)
        return outcome

    def _endpoint_fix(
        self, call: PlannedCall, via: Via, wire: WireRequest, recorded_call: Call
    ) -> str | None:
        """What would make a missing call replay, when only its endpoint moved and a setting
        decides it: never for an app's own HTTP requests, which go where the app sends them."""
        if isinstance(via, AppHttp):
            return None
        moved = moved_endpoint(recorded_call, self.file.interactions)
        return endpoint_fix(call, via, wire, moved) if moved else None

    def _check_writable(self) -> None:
        """Fail before the first live call, not after paying for it, when its answer could not
        be saved (a read-only folder, a folder at the file's path)."""
        unwritable = self._writable()
        if unwritable is not None:
            raise UnwritableRecordingError(f"{unwritable} No call was made.")

    def _writable(self) -> str | None:
        """Why no answer could be saved, or None; checked once (it is file work: best done
        before the runner's event loop needs it)."""
        if not self._writable_checked:
            self._writable_checked = True
            try:
                check_writable(self.path)
            except RecordingError as exc:
                self._unwritable = str(exc)
        return self._unwritable

    def _note_change(
        self, call: Call, call_model: str, provider: Provider, outcome: CallOutcome
    ) -> None:
        """A call answered anew: its tokens and cost, and those of the answer it replaces."""
        label = call.label
        previous = self._by_label.get(label)
        try:
            # The runner read a live answer already to check it: its reading is reused.
            reply = outcome.reply or provider.parse_response(outcome.body)
            old_reply = provider.parse_response(previous.response["body"]) if previous else None
        except ChatexpError:
            return  # an unreadable answer fails the test elsewhere; no delta to report
        self.changes.append(
            ChangeRecord.of(
                config=label.config,
                input=label.input,
                sample=label.sample,
                turn=label.turn,
                model=call_model,
                old=old_reply.usage if old_reply else None,
                new=reply.usage,
                prices=self.prices,
                old_answer=_answer(old_reply) if old_reply else None,
                new_answer=_answer(reply),
            )
        )

    def replay(
        self, call: PlannedCall, provider: Provider, wire: WireRequest
    ) -> CallOutcome | None:
        """The recorded answer to ``call`` as an outcome, marked used; None if there is none."""
        return self._replay(recorded_call_of(call, provider, wire))

    def _replay(self, call: Call) -> CallOutcome | None:
        hit = self.lookup(call)
        if hit is None:
            return None
        if hit.request.body is not call.request.body and self.file.get(hit.fingerprint) is hit:
            # The request read from the file equals the one the sample keeps (the fingerprint
            # says so): the file holds that one, and the copy read is freed, not kept twice.
            hit = dataclasses.replace(hit, request=call.request)
            self.file.add(hit)
        self.used[hit.fingerprint] = hit
        first_token = hit.response.get("first_token_s")
        return CallOutcome(
            body=hit.response["body"],
            latency_s=float(hit.response.get("latency_s", 0.0)),
            replayed=True,
            first_token_s=float(first_token) if first_token is not None else None,
            source=self._source,
        )

    @functools.cached_property
    def _source(self) -> str:
        return (
            f"the answer was replayed from recording {self.display_path} (its response.body): "
            f"fix the edit, or re-record with: {self.rerun_hint}"
        )

    def lookup(self, call: Call) -> Interaction | None:
        """The recorded answer this mode would replay for ``call``, if any."""
        if self.mode == "all":
            return None
        key = call.fingerprint
        orphans = self._orphans if self._adopt else None
        if orphans is not None and (orphan := self._orphan_holding(key)):
            self._file = orphans.adopt(orphan, self.path, self.test_id, known_secrets())
            self._existed = True
            self.adopted = (
                f"{self._shown(orphan.path)} (of {orphan.test}, which no longer exists) as "
                f"{self.display_path}"
            )
        return self.file.get(key) or self.recorded.get(key)

    def _orphan_holding(self, fingerprint: str) -> Orphan | None:
        """A recording beside this test's (missing) one, of a test that no longer exists,
        that holds ``fingerprint``."""
        if self._existed or self._orphans is None or self._defined is None:
            return None
        return self._orphans.holding(self.path, fingerprint, self._defined)

    def _shown(self, path: Path) -> str:
        """``path``, a file in this test's recording folder, as the display path shows it."""
        return self.display_path[: -len(self.path.name)] + path.name

    def may_record(self) -> bool:
        return self.mode in ("new", "all") or (self.mode == "once" and not self._existed)

    def _miss(self, call: Call, *, fix: str | None = None) -> RecordingMissError:
        if fix is None and not self._existed and (orphan := self._orphan_holding(call.fingerprint)):
            fix = (
                f"Recording {self._shown(orphan.path)} holds this request, and its test "
                f"{orphan.test} no longer exists: if the test was renamed, run with "
                "--chatexp-adopt to move that recording to this one."
            )
        # Without a file there is nothing to compare with: the location says it all.
        miss = (
            explain_miss(call, self.file.interactions)
            if self._existed
            else Miss(call.label, recorded=False)
        )
        record = MissedCalls(
            test=self.test_id,
            mode=self.mode,
            recording=self.display_path,
            recording_exists=self._existed,
            record_command=self.rerun_hint,
            misses=(miss,),
            fixes=(fix,),
        )
        return RecordingMissError(record, call=call)

    def _checkpoint(self, interactions: list[Interaction]) -> None:
        self._write(interactions, replace=False)

    def persist(self) -> None:
        """Write newly recorded answers now, merged into the file, so a crash loses nothing."""
        if self._checkpoints is not None:
            self._checkpoints.close()  # its last write first: this one holds all it would
        if self.recorded:
            self._written = self._write(self.recorded.values(), replace=False)

    def finish(self, *, passed: bool, prune: bool) -> list[str]:
        """At the end of the test: the recorded entries it did not use (stale: a prompt or an
        input changed or went away), for the unused report. Modes that rewrite files drop them
        as part of re-recording (nothing to report); ``prune`` drops them and reports them.

        Only a passing test's usage is complete enough to judge what is stale.
        """
        if not passed or not (self._existed or self.recorded):
            return []
        interactions = self.file.interactions
        kept_aside = [item for item in interactions if item.label.input in self.left_out]
        known = [item.fingerprint for item in interactions if item.label.input not in self.left_out]
        stale = [key for key in known if key not in self.used and key not in self.recorded]
        rerecording = self.mode in ("new", "all")
        if (stale and (prune or rerecording)) or (self.mode == "all" and self.recorded):
            kept = [*kept_aside, *self.used.values(), *self.recorded.values()]
            # What ``persist`` wrote already (a first recording, a re-recording that left
            # nothing stale) is not rendered and compared a second time.
            if self._written is None or not self._written.holds_exactly(kept):
                self._write(kept, replace=True)
        return [] if rerecording else stale

    def _write(self, interactions: Iterable[Interaction], *, replace: bool) -> RecordingFile:
        return update(
            self.path,
            interactions,
            replace_test=replace,
            test=self.test_id,
            known_secrets=known_secrets(),
        )


def _answer(reply: ProviderReply) -> Answer:
    """A reply as the before/after view of a re-recorded call shows it."""
    calls = reply.message.tool_calls or []
    return Answer(
        text=reply.raw_output,
        tool_calls=tuple(
            f"{call.function.name}({call.function.arguments or ''})" for call in calls
        ),
    )
