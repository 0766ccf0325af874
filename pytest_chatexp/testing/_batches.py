"""The providers' batch APIs, served by the reference server: OpenAI's Files and Batch API
(``/v1/files``, ``/v1/batches``) and Anthropic's Message Batches (``/v1/messages/batches``).

Each line of a batch is answered exactly as the direct call would be, by dispatching it to the
server's own route for its endpoint (so the reply rules, plans, faults and request log apply to
it too). A batch ends after ``polls`` status reads (``None``: never, for timeout tests); lines
whose request contains ``expire`` are answered ``expired``; the next ``failing_polls`` status
reads answer 503. The objects follow the official
SDKs' types (``openai.types.Batch``, ``FileObject``; ``anthropic.types.messages.MessageBatch``).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_chatexp.testing._http import RecordedRequest, Response, json_response

Dispatch = Callable[[RecordedRequest], Awaitable[Response]]

_CREATED = 1_700_000_000
_ISO = "2024-01-01T00:00:00Z"
_ISO_EXPIRES = "2024-01-02T00:00:00Z"


@dataclass
class _Line:
    custom_id: str
    status: int = 0
    body: Any = None
    expired: bool = False


@dataclass
class _Batch:
    id: str
    kind: str  # "openai" | "anthropic"
    endpoint: str
    input_file_id: str
    lines: list[_Line]
    polls: int = 0
    cancelled: bool = False
    files: dict[str, str] = field(default_factory=dict)  # "output"/"error" -> file id


def _error(status: int, message: str) -> Response:
    return json_response({"error": {"message": message, "type": "invalid_request_error"}}, status)


class BatchBackend:
    """The batches and files one reference server holds."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        #: Status reads after which a batch ends; None: it never does (until cancelled).
        self.polls: int | None = 1
        #: Lines whose request JSON contains this text end ``expired``.
        self.expire: str | None = None
        #: The next status reads answered 503 (a passing outage), before any is counted.
        self.failing_polls = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Back to the defaults, every batch and file forgotten."""
        self.polls, self.expire, self.failing_polls = 1, None, 0
        self.files.clear()
        self.batches.clear()

    def serves(self, request: RecordedRequest) -> bool:
        path = request.path
        return path.startswith(("/v1/files", "/v1/batches", "/v1/messages/batches"))

    async def handle(self, request: RecordedRequest) -> Response:
        parts = request.path.strip("/").split("/")[1:]  # after "v1"
        method = request.method
        if parts == ["files"] and method == "POST":
            return self._upload(request)
        if parts[:1] == ["files"] and len(parts) == 3 and parts[2] == "content":
            return self._content(parts[1])
        if parts == ["batches"] and method == "POST":
            return await self._create_openai(request)
        if parts == ["messages", "batches"] and method == "POST":
            return await self._create_anthropic(request)
        offset = 2 if parts[:1] == ["messages"] else 1
        batch = self.batches.get(parts[offset]) if len(parts) > offset else None
        if batch is None:
            return _error(404, f"no such batch ({method} {request.path})")
        action = parts[offset + 1 :]
        if action == ["cancel"] and method == "POST":
            batch.cancelled = True
            return json_response(self._object(batch, request))
        if action == ["results"] and method == "GET":
            return self._anthropic_results(batch)
        if not action and method == "GET":
            if self.failing_polls > 0:
                self.failing_polls -= 1
                return _error(503, "the batch service is briefly unavailable")
            batch.polls += 1
            return json_response(self._object(batch, request))
        return _error(404, f"Invalid URL ({method} {request.path})")

    # --- files -------------------------------------------------------------------------

    def _upload(self, request: RecordedRequest) -> Response:
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        fields: dict[str, bytes] = {}
        filename = "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload
                filename = part.get_filename() or filename
        if fields.get("purpose") != b"batch" or "file" not in fields:
            return _error(400, "a batch upload takes purpose=batch and a file")
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = fields["file"]
        return json_response(self._file(file_id, filename, len(fields["file"])))

    def _file(self, file_id: str, filename: str, size: int) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": _CREATED,
            "filename": filename,
            "purpose": "batch",
            "status": "processed",
        }

    def _content(self, file_id: str) -> Response:
        if file_id not in self.files:
            return _error(404, f"no such file: {file_id}")
        return Response(200, self.files[file_id], content_type="application/jsonl")

    # --- creating: each line answered as its direct call ------------------------------

    async def _answer(self, request: RecordedRequest, path: str, body: Any) -> _Line:
        raw = json.dumps(body).encode()
        direct = replace(request, method="POST", path=path, json=body, body=raw, query="")
        response = await self._dispatch(direct)
        assert isinstance(response.body, bytes), "a batched request does not stream"
        return _Line("", response.status, json.loads(response.body))

    async def _lines(
        self, request: RecordedRequest, items: list[tuple[str, str, Any]]
    ) -> list[_Line]:
        answers = await asyncio.gather(
            *(self._answer(request, path, body) for _, path, body in items)
        )
        for answer, (custom_id, _, body) in zip(answers, items, strict=True):
            answer.custom_id = custom_id
            answer.expired = self.expire is not None and self.expire in json.dumps(body)
        return list(answers)

    async def _create_openai(self, request: RecordedRequest) -> Response:
        params = request.json if isinstance(request.json, dict) else {}
        file_id, endpoint = params.get("input_file_id"), params.get("endpoint")
        if file_id not in self.files or not isinstance(endpoint, str):
            return _error(400, "input_file_id must name an uploaded file, with an endpoint")
        items = []
        for text in self.files[file_id].decode().splitlines():
            line = json.loads(text)
            if line.get("url") != endpoint:
                return _error(400, f"line {line.get('custom_id')}: url is not {endpoint}")
            items.append((line["custom_id"], endpoint, line["body"]))
        batch = _Batch(f"batch_{next(self._ids)}", "openai", endpoint, file_id, [])
        batch.lines = await self._lines(request, items)
        self.batches[batch.id] = batch
        return json_response(self._object(batch, request))

    async def _create_anthropic(self, request: RecordedRequest) -> Response:
        params = request.json if isinstance(request.json, dict) else {}
        requests = params.get("requests")
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests: expected a non-empty array")
        items = [(item["custom_id"], "/v1/messages", item["params"]) for item in requests]
        batch = _Batch(f"msgbatch_{next(self._ids)}", "anthropic", "/v1/messages", "", [])
        batch.lines = await self._lines(request, items)
        self.batches[batch.id] = batch
        return json_response(self._object(batch, request))

    # --- status and results -------------------------------------------------------------

    def _ended(self, batch: _Batch) -> bool:
        return batch.cancelled or (self.polls is not None and batch.polls >= self.polls)

    def _object(self, batch: _Batch, request: RecordedRequest) -> dict[str, Any]:
        ended = self._ended(batch)
        if batch.kind == "anthropic":
            return self._message_batch(batch, request, ended)
        if ended and not batch.files:
            self._write_files(batch)
        status = "in_progress"
        if ended:
            status = "cancelled" if batch.cancelled else "completed"
        answered = [line for line in batch.lines if ended and not batch.cancelled]
        failed = sum(line.status >= 400 or line.expired for line in answered)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "created_at": _CREATED,
            "output_file_id": batch.files.get("output"),
            "error_file_id": batch.files.get("error"),
            "request_counts": {
                "total": len(batch.lines),
                "completed": len(answered) - failed,
                "failed": failed,
            },
        }

    def _write_files(self, batch: _Batch) -> None:
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(batch.lines):
            item: dict[str, Any] = {"id": f"batch_req_{index}", "custom_id": line.custom_id}
            if batch.cancelled or line.expired:
                code = "batch_cancelled" if batch.cancelled else "batch_expired"
                message = (
                    "This request was cancelled with its batch."
                    if batch.cancelled
                    else "This request could not be executed before the completion window expired."
                )
                item.update(response=None, error={"code": code, "message": message})
                errors.append(item)
                continue
            response = {"status_code": line.status, "request_id": f"req_{index}", "body": line.body}
            item.update(response=response, error=None)
            (errors if line.status >= 400 else output).append(item)
        for name, items in (("output", output), ("error", errors)):
            if items:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = b"".join(json.dumps(i).encode() + b"\n" for i in items)
                batch.files[name] = file_id

    def _message_batch(
        self, batch: _Batch, request: RecordedRequest, ended: bool
    ) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for line in batch.lines:
            counts[self._result(batch, line)["type"] if ended else "processing"] += 1
        host = request.headers.get("host", "127.0.0.1")
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": _ISO,
            "expires_at": _ISO_EXPIRES,
            "ended_at": _ISO if ended else None,
            "archived_at": None,
            "cancel_initiated_at": _ISO if batch.cancelled else None,
            "results_url": (
                f"http://{host}/v1/messages/batches/{batch.id}/results" if ended else None
            ),
        }

    def _result(self, batch: _Batch, line: _Line) -> dict[str, Any]:
        if batch.cancelled:
            return {"type": "canceled"}
        if line.expired:
            return {"type": "expired"}
        if line.status >= 400:
            return {"type": "errored", "error": line.body}
        return {"type": "succeeded", "message": line.body}

    def _anthropic_results(self, batch: _Batch) -> Response:
        if not self._ended(batch):
            return _error(400, f"batch {batch.id} is still in progress")
        lines = [
            json.dumps({"custom_id": line.custom_id, "result": self._result(batch, line)})
            for line in batch.lines
        ]
        return Response(200, ("\n".join(lines) + "\n").encode(), content_type="application/jsonl")
