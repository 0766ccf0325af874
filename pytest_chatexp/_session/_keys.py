"""Before any call of an experiment goes out: the secrets its calls read (never to be written
or shown), and the key each config with a live call needs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from .._calls._exchange import base_url_for, missing_key, provider_for
from .._calls._recorder import TestRecorder, recorded_call_of
from .._errors import ProviderError
from .._experiment._config import ModelConfig
from .._experiment._spec import ExperimentSpec
from .._providers import get_provider
from .._providers._base import api_key_env
from .._redaction import url_secrets

__all__ = ["check_keys", "secrets_of"]


def secrets_of(configs: Iterable[ModelConfig]) -> Iterator[str | None]:
    """What the configs' calls read that must never be written or shown: the value of each
    one's key variable, the credentials in its base URL, its extra header and query values."""
    for config in configs:
        provider = get_provider(config.provider)
        name = api_key_env(config, provider) if provider is not None else config.api_key_env
        yield os.environ.get(name) if name else None
        yield from url_secrets(config.base_url) if config.base_url else ()
        yield from [*config.headers.values(), *config.query.values()]


def check_keys(spec: ExperimentSpec, recorder: TestRecorder | None) -> None:
    """Before any call of the experiment goes out: each config with a call that will go live
    has the key it needs (``missing_key``), or the test fails naming the config and variable.
    An unauthenticated request to a public endpoint only earns a 401, once per call."""
    checked: set[str] = set()
    for call in spec.calls:
        if call.config.display_name in checked:
            continue
        provider = provider_for(call)
        base_url = base_url_for(call, provider)
        if recorder is not None:
            if not recorder.may_record():
                return  # nothing goes live: each miss fails with its own explanation
            wire = provider.build_request(call, base_url=base_url)
            if recorder.lookup(recorded_call_of(call, provider, wire)) is not None:
                continue  # replayed
        checked.add(call.config.display_name)
        problem = missing_key(call.config, provider, base_url)
        if problem is not None:
            raise ProviderError(problem)
