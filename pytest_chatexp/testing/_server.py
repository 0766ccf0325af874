"""The reference server: routes, recording and statistics around the HTTP layer.

The server runs its own event loop in a daemon thread, so synchronous tests can use
it like any remote API while it answers hundreds of concurrent (latency-injected)
requests on a single thread. Wire formats plug in as entries of
:attr:`ReferenceServer.routes`; model routes share recording, latency and the
:class:`ReplyEngine` through :meth:`ReferenceServer._model_route`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from types import TracebackType
from typing import overload

from pytest_chatexp.testing._anthropic import messages
from pytest_chatexp.testing._batches import BatchBackend
from pytest_chatexp.testing._bedrock import BEDROCK_PREFIX, bedrock_fault
from pytest_chatexp.testing._embeddings import bedrock_actions, embeddings, gemini_actions
from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._fault_plan import FaultPlan
from pytest_chatexp.testing._faults import Fault
from pytest_chatexp.testing._gemini import GEMINI_PREFIX, gemini_fault
from pytest_chatexp.testing._http import (
    Handler,
    HttpConnections,
    RecordedRequest,
    Response,
    json_response,
)
from pytest_chatexp.testing._humanloop import HumanloopBackend
from pytest_chatexp.testing._openai import chat_completion, openai_error
from pytest_chatexp.testing._plans import DirectiveError
from pytest_chatexp.testing._replies import Condition, ReplySource
from pytest_chatexp.testing._responses import (
    azure_deployment,
    azure_guard,
    responses,
    with_deployment_model,
)

WireFormat = Callable[[RecordedRequest, ReplyEngine], Response]
"""Translates one model request into a response, asking the engine what to say."""

Route = tuple[str, str]
"""``(method, path)``, e.g. ``("POST", "/v1/chat/completions")``."""

_HEALTHY = json_response({"status": "ok"})


class RequestLog(Sequence[RecordedRequest]):
    """The model requests a server received, oldest first; safe to read from any thread."""

    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def append(self, request: RecordedRequest) -> None:
        """Record a request (called by the server)."""
        with self._lock:
            self._items.append(request)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._items.clear()

    @overload
    def __getitem__(self, index: int) -> RecordedRequest: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordedRequest]: ...

    def __getitem__(self, index: int | slice) -> RecordedRequest | list[RecordedRequest]:
        with self._lock:
            return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[RecordedRequest]:
        with self._lock:
            return iter(list(self._items))

    def __repr__(self) -> str:
        return f"RequestLog({len(self)} requests)"


async def _health(request: RecordedRequest) -> Response:
    return _HEALTHY


class ReferenceServer:
    """A loopback HTTP server that answers like an LLM provider API, deterministically.

    Use it as a context manager (``with ReferenceServer() as server:``) and point an
    OpenAI-compatible client at :attr:`base_url`. Replies are scripted with
    :meth:`add_rule` or with directives in the prompt; see ``_engine`` and ``_plans``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.host = host
        #: Seconds every model reply waits (without blocking the loop); change at any time.
        self.latency = latency
        #: The model requests received so far.
        self.requests = RequestLog()
        #: Faults to answer the next model requests with (errors, broken bodies, stalls).
        self.faults = FaultPlan()
        #: Humanloop's stored model configs, experiments and deployments, served by the
        #: ``/v4/chat-*`` routes: e.g. ``server.humanloop.experiments["exp_1"] = [configs]``.
        self.humanloop = HumanloopBackend()
        #: The batch APIs' batches and files (``_batches``): ``server.batches.polls = 3``.
        self.batches = BatchBackend(self._dispatch)
        #: Handlers by ``(method, path)``; add entries to serve more endpoints.
        self.routes: dict[Route, Handler] = self._default_routes()
        self._requested_port = port
        self._bound_port: int | None = None
        self._engine = ReplyEngine()
        self._azure_chat = self._model_route(azure_guard(chat_completion, needs_version=True))
        self._http = HttpConnections(self._dispatch, openai_error)
        self._in_flight = 0
        self._max_in_flight = 0
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._request_shutdown: Callable[[], object] | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> ReferenceServer:
        """Start serving in a background thread; returns once the port is listening."""
        with self._lifecycle:
            if self._thread is not None:
                raise RuntimeError("the reference server is already running")
            started: Future[int] = Future()
            thread = threading.Thread(
                target=asyncio.run,
                args=(self._serve(started),),
                name="pytest-chatexp-reference-server",
                daemon=True,
            )
            thread.start()
            try:
                self._bound_port = started.result()
            except Exception:
                thread.join()  # it reported a startup failure and is already exiting
                raise
            self._thread = thread
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, then join the thread.

        Idempotent: stopping a stopped (or never started) server does nothing.
        """
        with self._lifecycle:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            assert self._request_shutdown is not None
            if thread.is_alive():
                self._request_shutdown()
            thread.join()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, started: Future[int]) -> None:
        """The background thread's whole life: listen, wait for shutdown, clean up."""
        try:
            server = await self._http.listen(self.host, self._requested_port)
        except Exception as exc:  # e.g. port in use: re-raised by start() in the caller
            started.set_exception(exc)
            return
        shutdown = asyncio.Event()
        self._request_shutdown = partial(
            asyncio.get_running_loop().call_soon_threadsafe, shutdown.set
        )
        started.set_result(server.sockets[0].getsockname()[1])
        try:
            await shutdown.wait()
        finally:
            server.close()
            await self._http.close_connections()
            await server.wait_closed()

    # --- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (the ephemeral one chosen at start when ``port=0``)."""
        if self._bound_port is not None:
            return self._bound_port
        if self._requested_port:
            return self._requested_port
        raise RuntimeError("the port is chosen when the server starts; call start() first")

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI-compatible client takes as its base URL."""
        return self.url + "/v1"

    # --- scripting ----------------------------------------------------------------------

    def add_rule(self, reply: ReplySource, *, when: Condition = None) -> None:
        """Script a reply for requests matching ``when``; the first matching rule wins.

        ``when`` is ``None`` (always), a substring of the last user message, or a
        predicate on the request JSON. ``reply`` is a string, a :class:`Reply`, or a
        function of the request JSON returning either.
        """
        self._engine.add_rule(reply, when=when)

    def clear_rules(self) -> None:
        """Remove every rule added with :meth:`add_rule`."""
        self._engine.clear_rules()

    # --- statistics ---------------------------------------------------------------------

    @property
    def max_in_flight(self) -> int:
        """Peak number of model requests handled concurrently since the last reset."""
        return self._max_in_flight

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since the last reset (shows keep-alive reuse)."""
        return self._http.connections_accepted

    def reset_stats(self) -> None:
        """Reset :attr:`max_in_flight` and :attr:`connections_accepted`."""
        self._max_in_flight = self._in_flight
        self._http.connections_accepted = 0

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._thread is not None else "stopped"
        return f"<ReferenceServer {state} latency={self.latency}>"

    # --- routing ------------------------------------------------------------------------

    def _default_routes(self) -> dict[Route, Handler]:
        chat = self._model_route(chat_completion)
        responses_route = self._model_route(responses)
        return {
            ("GET", "/health"): _health,
            ("POST", "/v1/chat/completions"): chat,
            ("POST", "/chat/completions"): chat,
            ("POST", "/v1/messages"): self._model_route(messages),
            ("POST", "/messages"): self._model_route(messages),
            ("POST", "/v1/responses"): responses_route,
            ("POST", "/responses"): responses_route,
            # Azure OpenAI's v1 API; its deployment URLs are matched in _dispatch.
            ("POST", "/openai/v1/responses"): self._model_route(
                azure_guard(responses, needs_version=False)
            ),
            ("POST", "/v1/embeddings"): self._model_route(embeddings),
            ("POST", "/embeddings"): self._model_route(embeddings),
            ("POST", GEMINI_PREFIX + "*"): self._model_route(gemini_actions, gemini_fault),
            ("POST", BEDROCK_PREFIX + "*"): self._model_route(bedrock_actions, bedrock_fault),
            ("POST", "/v4/chat"): self._model_route(self.humanloop.chat),
            ("POST", "/v4/chat-experiment"): self._model_route(self.humanloop.chat_experiment),
            ("POST", "/v4/chat-model-config"): self._model_route(self.humanloop.chat_model_config),
            ("POST", "/v4/chat-deployed"): self._model_route(self.humanloop.chat_deployed),
        }

    async def _dispatch(self, request: RecordedRequest) -> Response:
        handler = self.routes.get((request.method, request.path))
        if handler is None and request.method == "POST" and azure_deployment(request.path):
            request = with_deployment_model(request)
            handler = self._azure_chat
        if handler is None and request.method == "POST" and request.path.startswith(GEMINI_PREFIX):
            # Gemini's model is part of its path (``/v1beta/models/{model}:{action}``): one
            # route serves every model; ``gemini_actions`` reads the action, the handler the model.
            handler = self.routes.get(("POST", GEMINI_PREFIX + "*"))
        if handler is None and request.method == "POST" and request.path.startswith(BEDROCK_PREFIX):
            handler = self.routes.get(("POST", BEDROCK_PREFIX + "*"))  # likewise Bedrock's
        if handler is None and self.batches.serves(request):
            return await self.batches.handle(request)
        if handler is None:
            return openai_error(404, f"Invalid URL ({request.method} {request.path})")
        return await handler(request)

    def _model_route(
        self, wire_format: WireFormat, error_shape: Callable[[Response], Response] | None = None
    ) -> Handler:
        """Wrap a wire format with what every model endpoint shares: log, stats, latency, faults.

        ``error_shape`` re-shapes the faults' shared error body for a format that reads only
        its own (Gemini's ``{"error": {"code", "message", "status"}}``).
        """
        shape = error_shape or (lambda response: response)

        async def handle(request: RecordedRequest) -> Response:
            self.requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            try:
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                fault = self.faults.take(request)
                if fault is not None:
                    return shape(await fault.respond(request, wire_format, self._engine))
                return wire_format(request, self._engine)
            except DirectiveError as exc:  # the prompt scripts a plan the server cannot read
                message = f"cannot read the plan in the last user message: {exc}"
                refusal = Fault.status(400, message=message)
                return shape(await refusal.respond(request, wire_format, self._engine))
            finally:
                self._in_flight -= 1

        return handle
