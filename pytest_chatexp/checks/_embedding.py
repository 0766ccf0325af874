"""``embedding_similar``: a sample passes when its response's embedding is close enough (cosine
similarity) to a reference text's.

The embedder is an ordinary ``ModelConfig`` naming a chat provider whose API also serves
embeddings (OpenAI and every OpenAI-compatible server: llama.cpp's ``llama-server
--embeddings``, Ollama, vLLM; Gemini): the check turns it into an embeddings config (named
``embedding:<embedder>``) and, before any sample is checked, embeds the reference and every
distinct response in ONE experiment of the running test (``active_test().run``), one text per
call. So embedding calls are planned, budgeted, recorded, replayed, counted and priced exactly
like the test's own calls; the same text is embedded once per experiment (its input id is a
digest of the text), and once per process across tests (``_calls/_reuse.py``), yet each test's
recording holds every embedding it uses.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import pytest

from .._errors import InvalidExperimentError
from .._experiment._config import ModelConfig
from .._experiment._inputs import Input
from .._experiment._result import Sample
from .._experiment._spec import ExperimentSpec
from .._providers._base import embeddings_kind, embeddings_providers, get_provider
from .._providers._embeddings import EmbeddingsProvider
from ._judge import _excerpt, _response
from ._running import active_test, current_test
from ._verdict import SampleCheck

__all__ = ["embedding_similar"]

_NAME_EXCERPT = 40
_TEXT_VARIABLE = "text"


def embedding_similar(
    reference: str, *, embedder: ModelConfig, min_score: float = 0.8
) -> SampleCheck:
    """A check that the sample's response means what ``reference`` means, by embeddings: the
    cosine similarity of their vectors is at least ``min_score`` (-1..1).

    ``embedder`` supplies provider, model, base URL and key (``other`` is sent as is, e.g.
    ``{"dimensions": 256}``); its chat settings are unused. A lower similarity fails the sample
    with ``embedding similarity 0.42 < 0.8``. An embedder whose provider has no embeddings
    endpoint is an error when the check is declared; an answer that is not one vector fails
    the test naming the call; vectors of different sizes fail it naming the embedder.

    Example: ``assert_samples(chatexp, embedding_similar("Open 9 to 5", embedder=EMBED))``
    """
    shown = _excerpt(reference, _NAME_EXCERPT) if isinstance(reference, str) else "?"
    name = f"embedding_similar({shown})"
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("embedding_similar() needs a non-empty reference")
    if isinstance(min_score, bool) or not isinstance(min_score, int | float):
        raise ValueError(f"{name}: min_score must be a number from -1 to 1, got {min_score!r}")
    if not -1.0 <= min_score <= 1.0:
        raise ValueError(f"{name}: min_score must be between -1 and 1, got {min_score!r}")
    embedding = _Embedding(name, _embedder_config(embedder, name), reference.strip(), min_score)
    return SampleCheck(name, embedding.check, embedding.prepare)


def _embedder_config(embedder: ModelConfig, name: str) -> ModelConfig:
    if not isinstance(embedder, ModelConfig):
        raise TypeError(f"{name} needs embedder=ModelConfig(...), got {type(embedder).__name__}")
    kind = embeddings_kind(embedder.provider)
    if kind is None:
        _refuse(
            f"{name}: embedder config '{embedder.display_name}' names provider "
            f"'{embedder.provider}', which has no embeddings endpoint (embeddings are served "
            f"for: {', '.join(embeddings_providers())})"
        )
    return embedder.variant(
        name=f"embedding:{embedder.display_name}",
        provider=kind,
        chat_template=[{"role": "user", "content": "{{" + _TEXT_VARIABLE + "}}"}],
        response_format=None,
        tools=(),
        tool_choice=None,
    )


def _refuse(message: str) -> NoReturn:
    """Fail on a bad declaration with its message alone: the running test's short failure, or
    a plugin error (shown without a traceback at collection) when declared at import."""
    test = current_test()
    if test is not None:
        raise pytest.fail.Exception(f"chatexp: {test.node_id}: {message}", pytrace=False)
    raise InvalidExperimentError(message)


def _text_id(text: str) -> str:
    """A text's input id: the same text is one input, with one recording, in every test."""
    return "text-" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class _Embedding:
    """Embeds the reference and the samples' responses once per running test; remembers each
    text's vector (texts are strings: hashable, so no identity bookkeeping is needed)."""

    name: str
    config: ModelConfig
    reference: str
    min_score: float
    _test: object | None = None
    _vectors: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def prepare(self, samples: Sequence[Sample]) -> None:
        test = active_test("embedding_similar()")
        if self._test is not test:
            self._test, self._vectors = test, {}
        wanted = [self.reference, *(_response(sample) for sample in samples)]
        todo = list(dict.fromkeys(text for text in wanted if text not in self._vectors))
        if not todo:
            return
        spec = ExperimentSpec(
            name=f"{test.node_id} {self.config.display_name}",
            model_configs=(self.config,),
            inputs=tuple(Input(id=_text_id(text), inputs={_TEXT_VARIABLE: text}) for text in todo),
        )
        result = test.run(spec)  # a plugin error (a wrong answer) fails the test there
        provider = get_provider(self.config.provider)
        assert isinstance(provider, EmbeddingsProvider)
        by_id = {str(sample.input.id): sample for sample in result.samples}
        for text in todo:
            self._vectors[text] = provider.vector(by_id[_text_id(text)].provider_response)

    def check(self, sample: Sample) -> str | None:
        text = _response(sample)
        if self.reference not in self._vectors or text not in self._vectors:
            self.prepare([sample])  # checked without assert_samples: embed this one alone
        reference, vector = self._vectors[self.reference], self._vectors[text]
        if len(reference) != len(vector):
            _refuse(
                f"{self.name}: embedder '{self.config.display_name}' answered vectors of "
                f"different sizes: {len(reference)} for the reference, {len(vector)} for the "
                f"response of {sample.config.display_name} / {sample.input.id} "
                f"#{sample.index}; they cannot be compared"
            )
        score = _cosine(reference, vector)
        if score is None:
            return f"the embedding of the response or the reference is all zeros ({self.name})"
        shown = round(score, 4)
        return (
            None
            if score >= self.min_score
            else f"embedding similarity {shown!r} < {self.min_score!r}"
        )


def _cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norms == 0.0:
        return None
    return max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b, strict=True)) / norms))
