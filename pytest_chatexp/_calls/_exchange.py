"""Calls and their answers without the network: samples from answers however they came, what
a live call would lack (a key, the recorded endpoint), and the synchronous replay of an
experiment's samples as far as recordings answer them. The seams themselves are in ``_target``.

Replay is what CI runs for every test whose prompts did not change, so this module imports no
event loop and no HTTP client: a replay-only session never loads asyncio, httpx or ssl. The
runner (``_runner``), which does, is imported only when a call has to go out.
"""

from __future__ import annotations

import os
from typing import Any

from .._errors import ProviderError
from .._experiment._apps import APP_PROVIDER
from .._experiment._config import ModelConfig
from .._experiment._result import ExperimentResult, Sample, assemble
from .._experiment._spec import ExperimentSpec, PlannedCall
from .._providers import Provider, ProviderReply, WireRequest
from .._providers import _base as _providers
from .._providers._base import api_key_env
from .._util import canonical_json, endpoint_identity
from ._loop import SampleRun
from ._target import CallOutcome, Replay, Target

__all__ = [
    "assemble_runs",
    "base_url_for",
    "endpoint_fix",
    "format_for",
    "keep_recorded_ids",
    "missing_key",
    "provider_for",
    "read_reply",
    "replay",
    "reply_of",
    "sample_from",
    "target_for",
]


def replay(spec: ExperimentSpec, lookup: Replay) -> list[SampleRun]:
    """Every sample of the experiment advanced as far as recordings answer it, synchronously,
    tool handlers run: replaying needs no event loop, thread or client, and this is the path CI
    takes for every test whose prompts did not change. A sample left unfinished (a call without
    a recording, an async handler) is the runner's to carry on, from where it stopped."""
    runs = [SampleRun(call) for call in spec.calls]
    for run in runs:
        _advance(run, lookup)
    return runs


def _advance(run: SampleRun, lookup: Replay) -> None:
    while not run.done:
        if run.pending:
            if any(tool.awaits for tool in run.pending):
                return  # an async handler needs the runner's event loop
            run.ran([tool.run(run.where) for tool in run.pending])
            continue
        call = run.next
        assert call is not None
        provider = provider_for(call)
        wire = provider.build_request(call, base_url=base_url_for(call, provider))
        outcome = lookup(call, provider, wire)
        if outcome is None:
            return
        run.take(call, wire, reply_of(call, provider, wire, outcome), outcome)


def assemble_runs(
    spec: ExperimentSpec, runs: list[SampleRun], wall_time: float
) -> ExperimentResult:
    return assemble(spec, [run.sample() for run in runs], wall_time)


def provider_for(call: PlannedCall) -> Provider:
    """The format of the call's config (``format_for``): its wire format, or the app's."""
    return format_for(call.config)


def missing_key(config: ModelConfig, provider: Provider, base_url: str) -> str | None:
    """Why a live call of ``config`` to ``base_url`` would go without the key it needs, or None.

    An ``api_key_env`` the config names must be set. Otherwise a key is needed only by the
    provider's public endpoint: a local server (llama.cpp, Ollama, vLLM, a proxy), reached
    through ``base_url`` or the provider's base-URL variable, may need none.
    """
    name = api_key_env(config, provider)
    if name is None or os.environ.get(name):
        return None
    where = f"model config '{config.display_name}'"
    if config.api_key_env:
        return f"{where}: the environment variable {name} (api_key_env) is not set"
    if endpoint_identity(base_url) != endpoint_identity(provider.default_base_url):
        return None
    elsewhere = f"{provider.base_url_env} or " if provider.base_url_env else ""
    return (
        f"{where} would call {provider.default_base_url} without a key: set {name}, or set "
        f"{elsewhere}the config's base_url to a server that needs none"
    )


# Keys whose values differ between two identical answers: response, message and tool-call ids,
# and creation timestamps.
_VOLATILE_KEYS = frozenset({"id", "created"})


def keep_recorded_ids(recorded: Any, new: Any) -> Any:
    """``recorded`` when the answer ``new`` to the same request differs from it only in ids and
    timestamps, else ``new``: re-recording an unchanged experiment then leaves its recording
    alone (but for latencies) instead of churning every id in the pull request."""
    return recorded if _canonical_answer(recorded) == _canonical_answer(new) else new


def _canonical_answer(body: Any) -> str:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return canonical_json(strip(body))


def endpoint_fix(
    call: PlannedCall, provider: Provider, wire: WireRequest, recorded: str
) -> str | None:
    """What to set so ``call`` reaches the endpoint it was recorded at (``recorded``, an
    ``endpoint_identity``), when nothing but the endpoint differs from its recording; None
    when no setting decides it (a provider without a base-URL variable)."""
    if provider.base_url_env is None:
        return None
    suffix = wire.url.removeprefix(base_url_for(call, provider))  # e.g. /chat/completions
    base = recorded.removesuffix(suffix) if suffix and recorded.endswith(suffix) else recorded
    is_default = base == endpoint_identity(provider.default_base_url)
    if base.startswith("localhost"):
        url = f"http://127.0.0.1:<port>{base.removeprefix('localhost')} (any port)"
    else:
        url = f"https://{base}"
    why = (
        f"the call is unchanged but was recorded against {base}. Re-recording would call the "
        "new endpoint for every call"
    )
    if call.config.base_url:
        return f"To replay, set model config '{call.config.display_name}' base_url={url}: {why}."
    if is_default:
        return f"To replay, unset {provider.base_url_env}: {why}."
    return f"To replay, set {provider.base_url_env}={url}: {why}."


def base_url_for(call: PlannedCall, provider: Provider) -> str:
    return _providers.base_url_for(call.config, provider)


def sample_from(
    call: PlannedCall, provider: Provider, wire: WireRequest, outcome: CallOutcome
) -> Sample:
    """The sample of a single call's answer, however it was obtained (live or replayed)."""
    run = SampleRun(call)
    run.take(call, wire, reply_of(call, provider, wire, outcome), outcome)
    return run.sample()


def reply_of(
    call: PlannedCall, provider: Provider, wire: WireRequest, outcome: CallOutcome
) -> ProviderReply:
    """The provider's reading of an outcome: the runner's, when it read a live answer to check
    it before anything recorded it, else read now (``read_reply``)."""
    if outcome.reply is not None:
        return outcome.reply
    return read_reply(call, provider, wire, outcome.body, outcome.source)


def read_reply(
    call: PlannedCall, provider: Provider, wire: WireRequest, body: Any, source: str | None = None
) -> ProviderReply:
    """The provider's reading of an answer, or a ProviderError naming the call: the same
    error whether the answer just arrived (and so is not recorded) or is replayed."""
    try:
        return provider.read_answer(body, streamed=wire.streams)
    except ProviderError as exc:
        source = f"; {source}" if source else ""
        raise ProviderError(f"{call.label}: {exc}{source}") from None


def format_for(config: ModelConfig) -> Provider:
    """The format a config's requests are built, fingerprinted and replayed in, and its answers
    read in: the wire format it names, or the app target's own for ``provider="python"``."""
    if config.provider == APP_PROVIDER:
        # Imported here for start-up cost: the app target loads httpx, which a replay-only
        # session and a suite speaking only to models never need.
        from ._app import APP_FORMAT

        return APP_FORMAT
    return _providers.provider_for(config, also=(APP_PROVIDER,))


def target_for(config: ModelConfig, http: Target) -> Target:
    """The target serving a config: the app target for ``provider="python"``, else ``http``
    (the runner's, which owns the connections)."""
    if config.provider == APP_PROVIDER:
        from ._app import APP_TARGET  # here for start-up cost, as in format_for

        return APP_TARGET
    return http
