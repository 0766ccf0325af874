"""The sharing key (``_session/_sharing.py``): two tests share an experiment when everything that
decides its calls is equal, whatever each test's name, concurrency or timeout; and the reports'
``counted_once`` keeps one record per shared experiment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pytest_chatexp._experiment._agents import SimulatedUser
from pytest_chatexp._experiment._config import ModelConfig, Tool
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import ExperimentSpec
from pytest_chatexp._reports._records import ExperimentRecord
from pytest_chatexp._reports._shared import counted_once
from pytest_chatexp._session._sharing import experiment_key, same_experiment

CONFIG = ModelConfig(name="bot", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
SPEC = ExperimentSpec(
    name="test_x.py::test_a",
    model_configs=(CONFIG,),
    inputs=(Input(id="one", inputs={"q": "one"}), Input(id="two", inputs={"q": "two"})),
    num_samples=2,
)


def _lookup(order_id: str) -> str:
    return order_id


def test_the_name_concurrency_and_timeout_do_not_make_another_experiment() -> None:
    other = replace(SPEC, name="test_x.py::test_b", concurrency=4, timeout=3.0)
    assert same_experiment(SPEC, other)
    assert experiment_key(SPEC) == experiment_key(other)
    # Rebuilt from equal declarations, not the same objects: still the same experiment.
    rebuilt = ExperimentSpec(
        name="test_x.py::test_c",
        model_configs=(ModelConfig(**CONFIG.model_dump(exclude_unset=True)),),
        inputs=(Input(id="one", inputs={"q": "one"}), Input(id="two", inputs={"q": "two"})),
        num_samples=2,
    )
    assert same_experiment(SPEC, rebuilt)


@pytest.mark.parametrize(
    "change",
    [
        {"model_configs": (CONFIG.variant(temperature=0.5),)},
        {"model_configs": (CONFIG.variant(name="renamed"),)},  # recorded under its name
        {"inputs": (Input(id="one", inputs={"q": "one"}),)},
        {"inputs": (Input(id="one", inputs={"q": "1"}), Input(id="two", inputs={"q": "two"}))},
        {"messages": (ChatMessage(role="user", content="and?"),)},
        {"num_samples": 3},
        {"max_turns": 3},
        {"simulated_user": SimulatedUser(config=CONFIG, goal="get a refund")},
        {"only": frozenset({("bot", "one")})},
        {"first_sample": 2},
    ],
    ids=lambda change: next(iter(change)),
)
def test_anything_that_changes_the_calls_is_another_experiment(change: dict[str, Any]) -> None:
    other = replace(SPEC, **change)
    assert not same_experiment(SPEC, other)


def test_another_tool_handler_is_another_experiment() -> None:
    config = CONFIG.variant(
        tools=[Tool(name="lookup", parameters={"type": "object", "properties": {}})]
    )
    spec = replace(SPEC, model_configs=(config,), tool_handlers={"lookup": _lookup})
    assert same_experiment(spec, replace(spec, name="b", tool_handlers={"lookup": _lookup}))
    assert not same_experiment(spec, replace(spec, tool_handlers={"lookup": str.upper}))


def _record(test: str, live: int, replayed: int, shared: str | None) -> ExperimentRecord:
    row: dict[str, Any] = {"live": live, "replayed": replayed}
    record: dict[str, Any] = {"test": test, "wall_time_s": 0.0, "configs": [row]}
    if shared is not None:
        record["shared"] = shared
    return record  # type: ignore[return-value]


def test_counted_once_keeps_one_record_per_shared_experiment_the_live_one() -> None:
    own = _record("test_x.py::test_own", 1, 0, None)
    replayed = _record("test_x.py::test_a", 0, 4, "test_x.py")  # a worker that replayed it
    ran = _record("test_x.py::test_b", 4, 0, "test_x.py")  # the worker that ran it live
    again = _record("test_x.py::test_c", 4, 0, "test_x.py")  # its own worker's next member
    other = _record("test_y.py::TestA::test_a", 2, 0, "test_y.py::TestA")
    counted = counted_once([own, replayed, ran, again, other])
    assert counted == [own, ran, other]
    assert counted_once([]) == []
