"""Re-recording is linear in the number of calls: counted, not timed.

The recorder is driven directly with synthetic calls over an existing recording, as a
``--chatexp-record=all`` or ``=new`` run drives it, and the per-interaction operations a scan
of the old file would make are counted: label comparisons (finding the answer a call replaces)
and sort keys (putting the file in order). A linear recorder makes a few of each per call; a
scan per call makes thousands, so the counter gives up as soon as the budget is exceeded and a
quadratic regression fails fast instead of running for minutes. The files are written as JSON
(which YAML reads) to keep the test quick: rendering is not what is counted here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp._calls import _recorder
from pytest_chatexp._calls._recorder import TestRecorder, recorded_call_of
from pytest_chatexp._calls._target import CallOutcome
from pytest_chatexp._experiment._config import ModelConfig
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import ExperimentSpec, PlannedCall
from pytest_chatexp._providers import Provider, get_provider
from pytest_chatexp._recording import Interaction, Label, RecordingFile, _store

BASE_URL = "http://127.0.0.1:9/v1"
# Operations per call allowed: a handful for a linear recorder, thousands for a scan per call.
PER_CALL = 8


class OverBudget(Exception):
    pass


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.budget: int | None = None

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            self.count += 1
            if self.budget is not None and self.count > self.budget:
                raise OverBudget(f"more than {self.budget} operations")
            return function(*args)

        return counted


def answer(text: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 2, "total_tokens": 0},
    }


def planned(n: int, temperature: float) -> list[PlannedCall]:
    config = ModelConfig(
        name="c",
        model="m",
        base_url=BASE_URL,
        temperature=temperature,
        chat_template=[{"role": "user", "content": "{{q}}"}],
    )
    inputs = tuple(Input(id=f"q{i:05d}", inputs={"q": f"question {i}?"}) for i in range(n))
    spec = ExperimentSpec(name="scale", model_configs=(config,), inputs=inputs)
    return list(spec.calls)


def openai() -> Provider:
    provider = get_provider("openai")
    assert provider is not None
    return provider


def write_recording(path: Path, calls: list[PlannedCall]) -> None:
    provider = openai()
    interactions = [
        Interaction.record(
            recorded_call_of(call, provider, provider.build_request(call, base_url=BASE_URL)),
            body=answer(f"old {call.input.id}", prompt_tokens=10),
            latency_s=0.1,
        )
        for call in calls
    ]
    RecordingFile("t.py::test", interactions).save(path, known_secrets=[])


def rerecord(path: Path, mode: str, calls: list[PlannedCall]) -> TestRecorder:
    """Every call answered anew through the recorder, then the test's end, as a run does."""
    provider = openai()
    # No checkpoints: how many the writer thread makes depends on how long the loop takes (a
    # loaded machine makes more), and each sorts the file, so they would make the count timed.
    recorder = TestRecorder(
        path=path,
        display_path=path.name,
        test_id="t.py::test",
        mode=mode,
        rerun_hint="-",
        checkpoints=False,
    )

    exchange = recorder.live_exchange()  # as the session does, before the runner's loop

    async def run_all() -> None:
        for call in calls:
            wire = provider.build_request(call, base_url=BASE_URL)
            outcome = CallOutcome(body=answer(f"new {call.input.id}", 20), latency_s=0.2)

            async def send(outcome: CallOutcome = outcome) -> CallOutcome:
                return outcome

            await exchange(call, provider, wire, send)

    asyncio.run(run_all())
    recorder.persist()
    recorder.finish(passed=True, prune=False)
    return recorder


def render_json(recording: RecordingFile) -> str:
    items = [_store._interaction_data(item) for item in recording.interactions]
    return _store.HEADER + json.dumps({"version": 1, "test": recording.test, "interactions": items})


def pieces_json(recording: RecordingFile) -> Iterator[str]:
    yield render_json(recording)


def read_json(path: Path, text: str) -> RecordingFile:
    data = json.loads(text.removeprefix(_store.HEADER))
    return _store._recording_from_data(data, json_only=True)


def counted_rerecord(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, n: int
) -> tuple[int, int, TestRecorder]:
    """The operations of re-recording ``n`` calls over a recording of them, in ``mode``
    (``new``: every prompt changed, so every call misses and is answered anew)."""
    monkeypatch.setattr(RecordingFile, "pieces", pieces_json)
    monkeypatch.setattr(_store, "_parse", read_json)
    path = tmp_path / f"{mode}-{n}.yaml"
    write_recording(path, planned(n, temperature=0.2))
    calls = planned(n, temperature=0.2 if mode == "all" else 0.7)
    counter, renders = Counter(), Counter()
    counter.budget = PER_CALL * n
    with monkeypatch.context() as patched:
        patched.setattr(Label, "__eq__", counter.wrap(Label.__eq__))
        patched.setattr(_store, "_order", counter.wrap(_store._order))
        patched.setattr(RecordingFile, "pieces", renders.wrap(pieces_json))
        recorder = rerecord(path, mode, calls)
    return counter.count, renders.count, recorder


@pytest.mark.parametrize("mode", ["all", "new"])
def test_rerecording_is_linear_in_the_number_of_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    small, _, _ = counted_rerecord(tmp_path, monkeypatch, mode, 1000)
    large, renders, recorder = counted_rerecord(tmp_path, monkeypatch, mode, 5000)
    assert 0 < large <= PER_CALL * 5000
    assert large <= 5.5 * small  # a scan per call would make it 25 times as many
    # Rendered once per write: the new answers merged in at the end of the experiment, then
    # (mode new) without the stale ones at the end of the test; not again for nothing.
    assert renders == (1 if mode == "all" else 2)
    # Every call found the answer it replaces: its old tokens are reported beside the new.
    assert len(recorder.changes) == 5000
    assert {(c.new, c.old_prompt_tokens, c.new_prompt_tokens) for c in recorder.changes} == {
        (False, 10, 20)
    }
    text = (tmp_path / f"{mode}-5000.yaml").read_text()
    after = json.loads(text.removeprefix(_store.HEADER))["interactions"]
    assert len(after) == 5000  # the stale entries of mode new are dropped, as before
    texts = {item["response"]["body"]["choices"][0]["message"]["content"] for item in after}
    assert texts == {f"new q{i:05d}" for i in range(5000)}


def test_the_file_is_read_and_its_folder_checked_before_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.yaml"
    write_recording(path, planned(20, temperature=0.2))
    on_a_loop: list[tuple[str, bool]] = []

    def noting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def noted(*args: Any) -> Any:
            on_a_loop.append((name, asyncio._get_running_loop() is not None))
            return function(*args)

        return noted

    monkeypatch.setattr(_recorder, "check_writable", noting("check", _recorder.check_writable))
    load = RecordingFile.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(RecordingFile, "load", classmethod(noting("load", load)))
    recorder = rerecord(path, "new", planned(20, temperature=0.7))
    assert len(recorder.changes) == 20
    # Each once, in the caller's thread (later loads are update's, under the file's lock).
    assert on_a_loop[:2] == [("check", False), ("load", False)]
    assert ("check", True) not in on_a_loop and ("load", True) not in on_a_loop


def test_a_replayed_request_is_kept_once_not_as_read_and_as_built(tmp_path: Path) -> None:
    """The recording's copy of a replayed call's request is dropped for the one the sample
    holds (equal, as the fingerprint says): a replay keeps one request per call, and what a
    pruning write puts back in the file is unchanged."""
    path = tmp_path / "r.yaml"
    calls = planned(50, temperature=0.2)
    write_recording(path, calls)
    before = path.read_bytes()
    provider = openai()
    recorder = TestRecorder(
        path=path, display_path=path.name, test_id="t.py::test", mode="none", rerun_hint="-"
    )
    wires = [provider.build_request(call, base_url=BASE_URL) for call in calls[:40]]
    for call, wire in zip(calls[:40], wires, strict=True):
        assert recorder.replay(call, provider, wire) is not None
    held = {id(item.request.body) for item in recorder.file.interactions}
    assert {id(wire.body) for wire in wires} <= held  # the built ones, not copies of them
    assert len(held) == 50
    # Ten calls unused: pruned, and the forty replayed are written exactly as they were read.
    kept_keys = set(recorder.used)
    assert len(recorder.finish(passed=True, prune=True)) == 10
    kept = RecordingFile.load(path)
    assert len(kept) == 40
    (tmp_path / "before.yaml").write_bytes(before)
    old = RecordingFile.load(tmp_path / "before.yaml")
    assert kept.holds_exactly(item for item in old.interactions if item.fingerprint in kept_keys)
