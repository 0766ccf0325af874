"""``embedding_similar`` through whole pytest sessions, against the reference server's
deterministic embeddings (a hashed bag of words: shared words are close, none far).

Inline pytester sessions run in this process, so ``server.requests`` counts the inner
session's embedding requests, and a route swapped in here answers them (hostile servers).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from openai.types import CreateEmbeddingResponse, EmbeddingCreateParams
from pydantic import TypeAdapter

from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import embedding_similar
from pytest_chatexp.testing import RecordedRequest, ReferenceServer
from pytest_chatexp.testing._http import Response, json_response
from tests._suite import assert_clean, recording_path

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import assert_samples, embedding_similar

SUPPORT = ModelConfig(
    name="support", model="ref-model", chat_template=[{"role": "user", "content": "{{question}}"}]
)
EMBEDDER = ModelConfig(name="embedder", model=EMBED_MODEL)
HOURS = embedding_similar("The store opens at 9 and closes at 5", embedder=EMBEDDER, min_score=0.9)

@pytest.mark.chatexp(
    model_configs=[SUPPORT],
    inputs=[
        {"id": "hours", "question": "the store opens at 9 and closes at 5"},
        {"id": "fruit", "question": "bananas are yellow"},
    ],
    num_samples=2,
)
def TEST_NAME(chatexp):
    assert_samples(chatexp, HOURS, min_pass_rate=0.5)
"""

EMBEDDINGS = ("/v1/embeddings", "/embeddings")
_PARAMS: TypeAdapter[EmbeddingCreateParams] = TypeAdapter(EmbeddingCreateParams)


def _suite(
    pytester: pytest.Pytester,
    *,
    tests: tuple[str, ...] = ("test_hours",),
    model: str = "text-embedding-3-small",
    name: str = "test_suite",
) -> None:
    source = SUITE.replace("EMBED_MODEL", repr(model))
    test = source.split("@pytest.mark.chatexp", 1)[1]
    head = source.split("@pytest.mark.chatexp", 1)[0]
    body = "".join("@pytest.mark.chatexp" + test.replace("TEST_NAME", each) for each in tests)
    pytester.makepyfile(**{name: head + body})


def _embedding_requests(server: ReferenceServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path in EMBEDDINGS]


def _rows(pytester: pytest.Pytester, report: str = "r.json") -> list[dict[str, Any]]:
    """The report's embedding config rows, every test's."""
    data = json.loads((pytester.path / report).read_text())
    rows: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("name", "")).startswith("embedding:") and "cost_usd" in node:
                rows.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return rows


FAILED_FRUIT = [
    "E*1 of 2 cases fail [[]embedding_similar('The store opens at 9 and closes at 5')]*",
    "E*support/fruit  0/2 passed (0%)",
    "E*sample 0: embedding_similar(*): embedding similarity * < 0.9",
    "E*output: 'echo: bananas are yellow'",
]


def test_close_texts_pass_and_far_ones_fail_each_distinct_text_embedded_once(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    _suite(pytester)
    result = pytester.runpytest("--chatexp-json=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(FAILED_FRUIT)
    result.stdout.no_fnmatch_line("*support/hours*")
    sent = _embedding_requests(server)
    # The reference and the two distinct outputs (both samples of a case answer alike).
    assert sorted(body["input"] for body in sent) == [
        "The store opens at 9 and closes at 5",
        "echo: bananas are yellow",
        "echo: the store opens at 9 and closes at 5",
    ]
    for body in sent:
        assert _PARAMS.validate_python(body) == {"model": "text-embedding-3-small", **body}
        assert set(body) == {"model", "input"}  # floats, the API's default: no encoding_format
    (row,) = _rows(pytester)
    assert row["live"] == 3 and row["samples"] == 3


def test_the_reference_servers_answers_are_openai_embedding_responses(
    server: ReferenceServer,
) -> None:
    import httpx

    answer = httpx.post(
        f"{server.base_url}/embeddings",
        json={"model": "m", "input": ["one two", "three"], "dimensions": 16},
    ).json()
    parsed = CreateEmbeddingResponse.model_validate(answer)
    assert [len(item.embedding) for item in parsed.data] == [16, 16]
    assert parsed.usage.prompt_tokens == 3
    assert server.requests[-1].path == "/v1/embeddings"  # counted like a model request


def test_embedding_checks_record_and_replay_offline_also_under_xdist(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _suite(pytester)
    recorded = pytester.runpytest("--chatexp-record=all", "--chatexp-json=r.json")
    recorded.assert_outcomes(failed=1)
    assert len(_embedding_requests(recording_session)) == 3
    data = yaml.safe_load(recording_path(pytester.path, "test_suite", "test_hours").read_text())
    embedded = [i for i in data["interactions"] if i["label"]["config"] == "embedding:embedder"]
    assert len(embedded) == 3
    assert {i["request"]["provider"] for i in embedded} == {"openai_embeddings"}
    assert {i["request"]["endpoint"] for i in embedded} == {"localhost/v1/embeddings"}
    assert all(i["label"]["input"].startswith("text-") for i in embedded)

    recording_session.requests.clear()
    for extra in ((), ("-n", "2")):
        replayed = pytester.runpytest("--chatexp-record=none", "--chatexp-json=r.json", *extra)
        replayed.assert_outcomes(failed=1)
        replayed.stdout.fnmatch_lines(FAILED_FRUIT)
        (row,) = _rows(pytester)
        assert (row["replayed"], row["live"]) == (3, 0)
    assert not recording_session.requests  # nothing reached the server: fully offline


def test_the_same_text_is_embedded_once_per_run_yet_every_recording_holds_it(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _suite(pytester, tests=("test_first", "test_second"))
    run = pytester.runpytest("--chatexp-record=new", "-p", "no:randomly", "--chatexp-json=r.json")
    run.assert_outcomes(failed=2)
    assert len(_embedding_requests(recording_session)) == 3  # not 6: the second test reused
    first, second = _rows(pytester)
    assert (first["live"], first["replayed"]) == (3, 0)
    assert (second["live"], second["replayed"]) == (0, 3)  # reused: counted, never sent
    assert second["prompt_tokens"] == first["prompt_tokens"]  # its usage is known all the same
    # Each test replays alone, offline, from its own recording.
    recording_session.requests.clear()
    for test in ("test_first", "test_second"):
        alone = pytester.runpytest("--chatexp-record=none", "-k", test)
        alone.assert_outcomes(failed=1)
        alone.stdout.fnmatch_lines(FAILED_FRUIT)
    assert not recording_session.requests


@pytest.mark.parametrize(
    ("model", "per_million"),
    [
        ("text-embedding-3-small", 0.02),
        ("text-embedding-3-large", 0.13),
        ("nomic-embed-text", None),
    ],
)
def test_embedding_calls_are_priced_and_an_unknown_model_is_unknown_not_free(
    pytester: pytest.Pytester, server: ReferenceServer, model: str, per_million: float | None
) -> None:
    _suite(pytester, model=model)
    result = pytester.runpytest("--chatexp-json=r.json")
    result.assert_outcomes(failed=1)
    (row,) = _rows(pytester)
    tokens = sum(len(body["input"].split()) for body in _embedding_requests(server))
    assert (row["prompt_tokens"], row["generation_tokens"]) == (tokens, 0)
    if per_million is None:
        assert row["cost_usd"] is None
        result.stdout.fnmatch_lines(["*embedding:embedder*cost unknown*"])
    else:
        assert row["cost_usd"] == pytest.approx(tokens * per_million / 1e6)


def test_embedding_calls_reserve_against_the_cost_cap(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makeini("[pytest]\nchatexp_prices =\n    ref-model 0 0\n")  # the model is free
    _suite(pytester)
    # ~15 prompt tokens an embedding at $0.02/1M: about $3e-7 each, so two fit and three not.
    result = pytester.runpytest("--chatexp-max-cost=0.0000007")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*cost budget would be exceeded: model config 'embedding:embedder', input 'text-*"]
    )
    assert 0 < len(_embedding_requests(server)) < 3  # reserved before sending: never over


def test_an_embedder_without_an_embeddings_endpoint_fails_naming_the_check_and_config(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_suite=SUITE.replace("EMBED_MODEL", "'claude-sonnet-4', provider='anthropic'")
        .replace('name="embedder"', 'name="claude"')
        .replace("HOURS = ", "def hours(): return ")
        .replace("(chatexp, HOURS", "(chatexp, hours()")
        .replace("TEST_NAME", "test_hours")
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_suite.py::test_hours: embedding_similar('The store opens at 9 and "
            "closes at 5'): embedder config 'claude' names provider 'anthropic', which has no "
            "embeddings endpoint (embeddings are served for: bedrock, gemini, groq, mock, openai, *)"
        ]
    )
    assert_clean(result)
    assert not _embedding_requests(server)


def test_declared_at_import_the_same_error_fails_the_collection_without_a_traceback(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_suite=SUITE.replace("EMBED_MODEL", "'claude-sonnet-4', provider='anthropic'").replace(
            "TEST_NAME", "test_hours"
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*embedder config 'embedder' names provider 'anthropic'*"])
    assert_clean(result)


def _route(
    answer: Callable[[dict[str, Any]], object],
) -> Callable[[RecordedRequest], Awaitable[Response]]:
    async def handle(request: RecordedRequest) -> Response:
        return json_response(answer(request.json))

    return handle


def test_an_answer_that_is_not_one_vector_fails_naming_the_call(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = {"data": [{"embedding": [1.0, 0.0]}, {"embedding": [0.0, 1.0]}]}
    monkeypatch.setitem(server.routes, ("POST", "/v1/embeddings"), _route(lambda body: two))
    _suite(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_suite.py::test_hours: * provider calls failed:",
            "*model config 'embedding:embedder', input 'text-*', sample 0: the embeddings answer "
            "holds 2 vectors for one text*",
        ]
    )
    assert_clean(result)


def test_vectors_of_different_sizes_fail_naming_the_embedder(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def by_length(body: dict[str, Any]) -> object:
        size = 3 if body["input"].startswith("The store") else 4  # the reference is shorter
        return {"data": [{"embedding": [0.5] * size}], "usage": {"prompt_tokens": 1}}

    monkeypatch.setitem(server.routes, ("POST", "/v1/embeddings"), _route(by_length))
    _suite(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_suite.py::test_hours: embedding_similar('The store opens at 9 and "
            "closes at 5'): embedder 'embedding:embedder' answered vectors of different sizes: "
            "3 for the reference, 4 for the response of support / hours #0; they cannot be "
            "compared"
        ]
    )
    assert_clean(result)


def test_gemini_embedders_call_embed_content(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_suite=SUITE.replace(
            "EMBED_MODEL", f"'text-embedding-004', provider='gemini', base_url={server.url!r}"
        ).replace("TEST_NAME", "test_hours")
    )
    result = pytester.runpytest("--chatexp-json=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(FAILED_FRUIT)
    sent = [r for r in server.requests if r.path.endswith(":embedContent")]
    assert {r.path for r in sent} == {"/v1beta/models/text-embedding-004:embedContent"}
    assert {r.json["content"]["parts"][0]["text"] for r in sent} >= {
        "The store opens at 9 and closes at 5"
    }
    (row,) = _rows(pytester)
    assert row["prompt_tokens"] is None and row["cost_usd"] is None  # not reported: unknown


@pytest.mark.parametrize(
    ("model", "tokens_known"),
    [("amazon.titan-embed-text-v2:0", True), ("cohere.embed-english-v3", False)],
)
def test_bedrock_embedders_invoke_titan_or_cohere_models_and_keep_the_key_out(
    pytester: pytest.Pytester,
    recording_session: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    tokens_known: bool,
) -> None:
    key = "ABSKQmVkcm9ja0FQSUtleS1zq8Wv3Xk7Lp2Nr5Tj4x9"
    monkeypatch.setenv("BEDROCK_BASE_URL", recording_session.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    pytester.makepyfile(
        test_suite=SUITE.replace("EMBED_MODEL", f"{model!r}, provider='bedrock'").replace(
            "TEST_NAME", "test_hours"
        )
    )
    result = pytester.runpytest("--chatexp-record=all", "--chatexp-json=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(FAILED_FRUIT)
    sent = [r for r in recording_session.requests if r.path.endswith("/invoke")]
    assert {r.path for r in sent} == {f"/model/{quote(model, safe='')}/invoke"}
    assert {r.headers["authorization"] for r in sent} == {f"Bearer {key}"}
    field = "inputText" if tokens_known else "texts"
    assert all(field in r.json for r in sent)
    (row,) = _rows(pytester)
    assert (row["prompt_tokens"] is not None) is tokens_known  # Cohere reports none: unknown
    recording = recording_path(pytester.path, "test_suite", "test_hours").read_text()
    assert key not in recording and "/invoke" in recording
    recording_session.requests.clear()
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    pytester.runpytest("--chatexp-record=none").assert_outcomes(failed=1)
    assert not recording_session.requests


def test_bad_arguments_fail_early() -> None:
    embedder = ModelConfig(name="e", model="text-embedding-3-small")
    with pytest.raises(ValueError, match="non-empty reference"):
        embedding_similar(" ", embedder=embedder)
    with pytest.raises(ValueError, match="min_score must be between -1 and 1, got 2"):
        embedding_similar("x", embedder=embedder, min_score=2)
    with pytest.raises(TypeError, match="needs embedder=ModelConfig"):
        embedding_similar("x", embedder="text-embedding-3-small")  # type: ignore[arg-type]
