"""Humanloop's v4 chat wire format for the reference server.

Serves ``POST /v4/chat`` (inline model config), ``/v4/chat-experiment``, ``/v4/chat-model-config``
and ``/v4/chat-deployed`` (configs stored on the server, see :class:`HumanloopBackend`). Like
Humanloop, it renders the config's ``chat_template`` with ``inputs`` (``{{var}}``), appends the
request's ``messages``, asks the reply engine for each of ``num_samples`` samples through an
OpenAI-like provider request, and answers a ``ChatResponse``; with ``"stream": true`` it answers
data-only server-sent events, one ``ChatResponse`` chunk per event with samples interleaved.

Requests are checked against the v4 schemas (``additionalProperties: false``): problems are a
422 in FastAPI's ``HTTPValidationError`` shape, a missing ``X-API-KEY`` is a 401, and an unknown
experiment, config or deployment a 404. Everything is deterministic: ids are digests of the
request, and an experiment picks its config for each sample by a digest of the request and the
sample's position.

This module holds the backend (stored configs, routing); the checks are in
:mod:`._humanloop_requests` and the answers in :mod:`._humanloop_answers`. Standard library only,
like the rest of :mod:`pytest_chatexp.testing`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from pytest_chatexp.testing._humanloop_answers import (
    Config,
    Sample,
    canonical,
    chat_response,
    event_stream,
    sample_key,
)
from pytest_chatexp.testing._humanloop_requests import (
    Refusal,
    check_stored_config,
    humanloop_error,
    invalid,
    problem,
    usable,
    validated,
)
from pytest_chatexp.testing._replies import JsonObject, short_digest

__all__ = ["SAMPLE_KEY", "HumanloopBackend", "humanloop_error"]

#: The ``metadata`` key with which pytest-chatexp numbers an input's samples (one call each).
SAMPLE_KEY = "chatexp_sample"


class HumanloopBackend:
    """What the reference server knows of a Humanloop organisation: stored model configs,
    experiments and deployments. Tests script it through ``server.humanloop``::

        server.humanloop.experiments["exp_1"] = [{"model": "a"}, {"model": "b", "temperature": 1}]
        config_id = server.humanloop.add_model_config({"model": "m", "chat_template": [...]})
        server.humanloop.deploy("support", "exp_1", environment="production")

    Config dicts have the shape of Humanloop's ``ModelConfigChatRequest``, plus an optional
    ``"id"``; without one, a config's id is ``config_`` and a digest of its content (see
    :meth:`config_id`). Each sample of an experiment call picks one of the experiment's configs
    by a digest of the request and the sample's position (:meth:`choose`).
    """

    def __init__(self) -> None:
        #: Stored configs by id, for ``/chat-model-config`` and deployments.
        self.model_configs: dict[str, JsonObject] = {}
        #: Experiments by id: the configs each call samples from.
        self.experiments: dict[str, list[JsonObject]] = {}
        #: ``(project name or id, environment or None)`` -> a config id or an experiment id.
        self.deployments: dict[tuple[str, str | None], str] = {}
        #: Project name -> id: the ``project_id`` answered for a request naming the project
        #: (undeclared names answer ``pr_`` and a digest of the name).
        self.projects: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- scripting ------------------------------------------------------------------------

    def add_model_config(self, config: Mapping[str, Any]) -> str:
        """Store a config for ``/chat-model-config`` and deployments; returns its id."""
        check_stored_config(config)
        config_id = self.config_id(config)
        with self._lock:
            self.model_configs[config_id] = dict(config)
        return config_id

    def add_experiment(self, experiment_id: str, configs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store an experiment over ``configs``; returns their ids."""
        for config in configs:
            check_stored_config(config)
        with self._lock:
            self.experiments[experiment_id] = [dict(config) for config in configs]
        return [self.config_id(config) for config in configs]

    def deploy(self, project: str, target: str, *, environment: str | None = None) -> None:
        """Deploy a stored config or an experiment (by id) to a project's environment
        (``None``: the default environment)."""
        with self._lock:
            self.deployments[(project, environment)] = target

    def clear(self) -> None:
        """Forget every config, experiment and deployment."""
        with self._lock:
            self.model_configs.clear()
            self.experiments.clear()
            self.deployments.clear()
            self.projects.clear()

    @staticmethod
    def config_id(config: Mapping[str, Any]) -> str:
        """A config's ``"id"``, or ``config_`` and 16 hex digits of its canonical JSON."""
        given = config.get("id")
        if isinstance(given, str):
            return given
        return "config_" + short_digest(canonical(dict(config)), 16)

    def choose(self, experiment_id: str, body: JsonObject, position: int) -> JsonObject:
        """The config an experiment uses for sample ``position`` of the request ``body``.

        A deterministic sequence, so recordings stay stable: a digest of the request (without
        ``stream``, so a streamed request picks what the plain one does, and without the sample
        index) chooses where it starts, then each next sample takes the next config. The sample
        is ``position`` plus ``metadata["chatexp_sample"]``, the index pytest-chatexp sends with
        each of an input's N one-sample calls: N samples cycle through the configs, A/B across
        samples is exercised, and different inputs start at different configs.
        """
        configs = self.experiments[experiment_id]
        metadata = body.get("metadata")
        sent = metadata.get(SAMPLE_KEY) if isinstance(metadata, dict) else None
        offset = sent if isinstance(sent, int) and not isinstance(sent, bool) else 0
        if isinstance(metadata, dict) and SAMPLE_KEY in metadata:
            metadata = {k: v for k, v in metadata.items() if k != SAMPLE_KEY}
            body = {**body, "metadata": metadata}
        start = int(short_digest(sample_key(body, 0), 8), 16)
        return configs[(start + offset + position) % len(configs)]

    # --- handlers (wrapped by ReferenceServer._model_route) --------------------------------

    def chat(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat``: an inline ``model_config``."""
        return self._handle("chat", request, engine)

    def chat_experiment(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat-experiment``: a config sampled from the experiment, per sample."""
        return self._handle("chat-experiment", request, engine)

    def chat_model_config(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat-model-config``: a stored config by ``model_config_id``."""
        return self._handle("chat-model-config", request, engine)

    def chat_deployed(self, request: RecordedRequest, engine: ReplyEngine) -> Response:
        """``POST /v4/chat-deployed``: the project's deployment (config or experiment)."""
        return self._handle("chat-deployed", request, engine)

    def _handle(self, endpoint: str, request: RecordedRequest, engine: ReplyEngine) -> Response:
        if not request.headers.get("x-api-key"):
            return humanloop_error(401, "Missing API key: send it in the X-API-KEY header.")
        try:
            body = validated(endpoint, request.json)
            pick = self._config_picker(endpoint, body)
            samples = [
                Sample.answer(body, position, pick(position), engine)
                for position in range(body.get("num_samples", 1))
            ]
        except Refusal as refusal:
            return refusal.response
        projects = dict(self.projects)
        if body.get("stream") is True:
            return Response(200, event_stream(body, samples, projects), "text/event-stream")
        return json_response(chat_response(body, samples, projects))

    def _config_picker(self, endpoint: str, body: JsonObject) -> Callable[[int], Config]:
        """For each sample position, the config that answers it (with its id)."""
        if endpoint == "chat":
            inline = Config(self.config_id(body["model_config"]), body["model_config"])
            return lambda position: inline
        if endpoint == "chat-experiment":
            return self._experiment_picker(body["experiment_id"], body)
        if endpoint == "chat-model-config":
            return self._stored_picker(body["model_config_id"])
        project = body.get("project_id", body.get("project"))
        if project is None:
            raise invalid(
                [problem(("body", "project"), "either project or project_id is required")]
            )
        environment = body.get("environment")
        target = self.deployments.get((project, environment))
        if target is None and environment is None:
            raise Refusal(
                humanloop_error(
                    404, f"Project '{project}' has no deployment in its default environment."
                )
            )
        if target is None:
            raise Refusal(
                humanloop_error(
                    404, f"Project '{project}' has no deployment in environment '{environment}'."
                )
            )
        if target in self.experiments:
            return self._experiment_picker(target, body)
        return self._stored_picker(target)

    def _experiment_picker(self, experiment_id: str, body: JsonObject) -> Callable[[int], Config]:
        if not self.experiments.get(experiment_id):
            raise Refusal(humanloop_error(404, f"Experiment '{experiment_id}' not found."))

        def pick(position: int) -> Config:
            config = self.choose(experiment_id, body, position)
            return Config(self.config_id(config), usable(config))

        return pick

    def _stored_picker(self, config_id: str) -> Callable[[int], Config]:
        config = self.model_configs.get(config_id)
        if config is None:
            raise Refusal(humanloop_error(404, f"Model config '{config_id}' not found."))
        stored = Config(config_id, usable(config))
        return lambda position: stored
