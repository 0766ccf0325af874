"""Your own application as the target: a Python callable instead of a model endpoint.

A team regression-tests its agent or chain, not only a raw model: the callable receives an
``AppCall`` (the rendered messages, the model config, the inputs, the sample index) and returns
text, a message, or a message with usage. It runs on every test run -- its own code is what is
under test -- while the HTTP calls it makes through ``AppCall.http_transport`` go through the
test's recording like any provider call, so CI replays them offline.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ValidationError

from .._errors import ChatexpError, ProviderError
from .._experiment._apps import resolve_app
from .._experiment._humanloop import ChatMessage, Usage
from .._experiment._spec import PlannedCall
from .._providers._base import Provider, ProviderReply, WireRequest
from .._redaction import display_url
from .._util import exception_text
from .._validation import describe_validation_error
from ._bounded import ACCEPT_ENCODING, AnswerTooLarge, UndecodableAnswer, read_body
from ._httpx import httpx
from ._metering import note_attempt
from ._target import APP_HTTP, CallOutcome, Exchange, Target, TargetCall, start_next

__all__ = ["APP_FORMAT", "APP_TARGET", "AppCall", "AppReply", "AppTarget"]


@dataclass(frozen=True)
class AppReply:
    """What an app may return when text alone is not enough."""

    message: ChatMessage | Mapping[str, Any] | str
    usage: Usage | Mapping[str, int] | None = None
    finish_reason: str = "stop"


@dataclass
class AppCall:
    """What the app receives for one sample: the rendered messages, the config, the inputs, and
    HTTP transports whose requests are recorded and replayed with the test's recording.

    The official SDKs take them as their HTTP client: openai>=3 and anthropic>=1 are built on
    httpx2 (``OpenAI(http_client=httpx2.Client(transport=call.httpx2_transport()))``); older
    releases, and code using httpx directly, take ``call.http_client()``.
    """

    messages: list[ChatMessage]
    config: Any  # the ModelConfig
    inputs: dict[str, Any]
    sample_index: int
    _call: PlannedCall = field(repr=False)
    _exchange: Exchange = field(repr=False)
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _max_response_bytes: int = field(repr=False)
    _transports: list[_Recording] = field(default_factory=list, repr=False)
    _sequence: int = field(default=0, repr=False)
    # The app's HTTP calls, and how many of them recordings answered: a sample whose every call
    # was replayed spent nothing, and the summary counts it as replayed.
    _exchanged: int = field(default=0, repr=False)
    _replayed: int = field(default=0, repr=False)

    def next_sequence(self) -> int:
        """The position of the app's next request within this sample (part of its key)."""
        self._sequence += 1
        return self._sequence

    def transport(self, library: str = "httpx") -> Any:
        """A recording transport for ``library`` ("httpx" or "httpx2")."""
        transport = _transport_class(library)(self)
        self._transports.append(transport)
        return transport

    def httpx2_transport(self) -> Any:
        return self.transport("httpx2")

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on a recording transport (kwargs go to the client)."""
        return httpx.AsyncClient(transport=self.transport(), **kwargs)

    def sync_http_client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on a recording transport, for synchronous apps."""
        return httpx.Client(transport=self.transport(), **kwargs)


class _Recording:
    """Sends an app's requests through the test's exchange: replayed when recorded, recorded
    when the record mode allows a live call. Requests are keyed by method, URL (host and path,
    no credentials: headers are never recorded), JSON body and their order within the sample.

    Written against the httpx API, which httpx2 (what openai>=3 and anthropic>=1 require)
    shares under another module name: ``_transport_class`` builds one class per library.
    """

    _lib: ClassVar[Any]

    def __init__(self, app_call: AppCall) -> None:
        self._app_call = app_call
        self._live = self._lib.AsyncHTTPTransport()

    async def handle_async_request(self, request: Any) -> Any:
        content = await request.aread()
        app = self._app_call
        try:
            payload: Any = json.loads(content) if content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = content.decode("utf-8", "replace")
        wire = WireRequest(
            url=str(request.url.copy_with(query=None)),
            body={
                "method": request.method,
                "query": request.url.query.decode() or None,
                "json": payload,
                "sequence": app.next_sequence(),
            },
        )

        async def send() -> CallOutcome:
            started = time.perf_counter()
            note_attempt()  # counted like the runner's requests (the app's client retries itself)
            # Only what can be inflated within a bound; the app sees the answer decoded anyway.
            request.headers["Accept-Encoding"] = ACCEPT_ENCODING
            response = await self._live.handle_async_request(request)
            try:
                raw = await read_body(response, app._max_response_bytes)
            except (AnswerTooLarge, UndecodableAnswer) as exc:
                raise ProviderError(
                    f"{app._call.label}: the app's request to {display_url(wire.url)}: {exc}"
                ) from None
            finally:
                await response.aclose()
            try:
                body: Any = {"status": response.status_code, "json": json.loads(raw)}
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = {"status": response.status_code, "text": raw.decode("utf-8", "replace")}
            return CallOutcome(body=body, latency_s=time.perf_counter() - started)

        outcome = await app._exchange(app._call, APP_HTTP, wire, send)
        app._exchanged += 1
        app._replayed += outcome.replayed
        answer = outcome.body
        if "json" in answer:
            return self._lib.Response(answer["status"], json=answer["json"], request=request)
        return self._lib.Response(answer["status"], text=answer.get("text", ""), request=request)

    def handle_request(self, request: Any) -> Any:
        # Synchronous apps run in a worker thread; the exchange lives on the runner's loop.
        request.read()
        future = asyncio.run_coroutine_threadsafe(
            self.handle_async_request(request), self._app_call._loop
        )
        return future.result()

    async def aclose(self) -> None:
        await self._live.aclose()

    def close(self) -> None:
        pass  # the live transport is async; the runner closes it after the sample


_CLASSES: dict[str, type[_Recording]] = {}


def _transport_class(library: str) -> type[_Recording]:
    """The recording transport as a subclass of ``library``'s transport base classes."""
    if library not in _CLASSES:
        lib = importlib.import_module(library)
        _CLASSES[library] = type(
            "RecordingTransport",
            (_Recording, lib.AsyncBaseTransport, lib.BaseTransport),
            {"_lib": lib, "__module__": __name__},
        )
    return _CLASSES[library]


class _AppFormat(Provider):
    """How an app's calls are keyed and its answers read: the request is what the app receives
    (for plans and messages; not recorded itself, its HTTP calls are), the answer the mapping
    ``_reply_body`` builds from what it returned."""

    kind: ClassVar[str] = "python"
    default_base_url: ClassVar[str] = "python:"
    default_api_key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        return WireRequest(
            url=f"python:{call.config.model}",
            body={
                "target": call.config.model,
                "messages": [m.model_dump(mode="json", exclude_none=True) for m in call.messages],
                "inputs": call.input.inputs,
            },
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {}

    def parse_response(self, body: Any) -> ProviderReply:
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            raise ProviderError(f"an app answer must be an object with a message: {body!r:.80}")
        finish_reason = body.get("finish_reason") or "stop"
        if not isinstance(finish_reason, str):
            raise ProviderError(f"an app answer's finish_reason is {finish_reason!r:.40}")
        try:
            message = ChatMessage.model_validate(body["message"])
            usage = Usage.model_validate(body.get("usage") or {})
        except ValidationError as exc:
            raise ProviderError(
                f"an app answer is malformed: {describe_validation_error(exc)}"
            ) from None
        return ProviderReply(
            message=message, raw_output=message.text, finish_reason=finish_reason, usage=usage
        )

    def error_message(self, body: Any) -> str | None:
        return None


class AppTarget(Target):
    """Calls the app in-process, every time: its code is what is under test. Its own HTTP calls
    go through the exchange, inside it; not recorded itself, it counts as replayed when every
    one of its calls was."""

    async def handle(self, request: TargetCall) -> CallOutcome:
        start_next(request.first_out)  # an app makes its own calls, in its own time
        invocation = self._invoke(
            request.call, request.exchange, max_response_bytes=request.max_response_bytes
        )
        return await asyncio.wait_for(invocation, request.timeout)

    async def _invoke(
        self, call: PlannedCall, exchange: Exchange, *, max_response_bytes: int
    ) -> CallOutcome:
        """Run the app for one sample; its answer becomes the outcome's body. Its HTTP answers
        are read up to ``max_response_bytes`` each, decoded."""
        function = resolve_app(call.config.model)
        app_call = AppCall(
            messages=list(call.messages),
            config=call.config,
            inputs=dict(call.input.inputs),
            sample_index=call.sample_index,
            _call=call,
            _exchange=exchange,
            _loop=asyncio.get_running_loop(),
            _max_response_bytes=max_response_bytes,
        )
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(function):
                result = await function(app_call)
            else:
                result = await asyncio.to_thread(function, app_call)
        except ProviderError:
            raise
        except Exception as exc:
            if isinstance(exc, ChatexpError):
                raise  # a recording miss or plugin error raised inside the app's HTTP call
            raise ProviderError(
                f"{call.label}: the app {call.config.model} raised {type(exc).__name__}: "
                f"{exception_text(exc)}"
            ) from exc
        finally:
            for transport in app_call._transports:
                await transport.aclose()
        return CallOutcome(
            body=_reply_body(result, call),
            latency_s=time.perf_counter() - started,
            replayed=0 < app_call._exchanged == app_call._replayed,
        )


APP_FORMAT = _AppFormat()
APP_TARGET = AppTarget()


def _reply_body(result: Any, call: PlannedCall) -> dict[str, Any]:
    """Normalize what the app returned: text, a message (object or mapping), or an AppReply."""
    usage: Any = None
    finish_reason = "stop"
    if isinstance(result, AppReply):
        usage, finish_reason, result = result.usage, result.finish_reason, result.message
    if isinstance(result, str):
        message = ChatMessage(role="assistant", content=result)
    elif isinstance(result, ChatMessage):
        message = result
    elif isinstance(result, Mapping):
        message = ChatMessage.model_validate({"role": "assistant", **result})
    else:
        raise ProviderError(
            f"{call.label}: the app {call.config.model} returned {type(result).__name__}; "
            "return text, a ChatMessage, a message mapping or an AppReply"
        )
    if message.tool_calls:
        finish_reason = "tool_call" if finish_reason == "stop" else finish_reason
    if isinstance(usage, Usage):
        usage = usage.model_dump()
    return {
        "message": message.model_dump(mode="json", exclude_none=True),
        "usage": dict(usage) if usage else None,
        "finish_reason": finish_reason,
    }
