"""An httpx transport over aiohttp: the same ``httpx.Request`` in, the same ``httpx.Response``
out (its raw, still-encoded bytes streamed), aiohttp's errors raised as httpx's.

Used by the HTTP target when aiohttp is installed (``pytest-chatexp[fast]``). httpx's own
transport runs each request through httpcore, h11 and anyio: locks, cancel scopes, a pure-Python
parser, 1.0-1.3 ms of CPU per call here at 64 in flight. aiohttp parses HTTP in C and pools
connections in O(1): 0.16-0.19 ms per call in the same run (bench/README.md). Everything above the
transport is unchanged: the bounded reads (``_bounded``: the body arrives raw, as
``auto_decompress=False`` leaves it, and is inflated within the limit there), event streams,
timeouts, retries, the breaker, and the error messages, built from httpx's exception types.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import yarl

from ._httpx import httpx

__all__ = ["AiohttpTransport"]

# Big reads: every chunk costs a trip through the generators above; a bound still holds, as
# _bounded counts each chunk against the limit before the next is read.
_CHUNK = 2**16


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One endpoint's connections in one aiohttp session (its connector reuses them LIFO, O(1)
    per request). The runner bounds how many requests are in flight, so the connector does not."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:  # on the loop: aiohttp binds a session to the running loop
            connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl_context)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # decoded within the bound, by _bounded
                trust_env=False,  # as httpx's transports here: no proxy or netrc from the env
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                # Kept from httpx's Request exactly as sent: no quoting, no re-encoding.
                requote_redirect_url=False,
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    def _timeout(self, extensions: dict[str, Any]) -> aiohttp.ClientTimeout:
        timeouts = extensions.get("timeout", {})
        key = (timeouts.get("connect"), timeouts.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            # The whole attempt is bounded above (asyncio.timeout); these tell a connection
            # that never opened (ConnectTimeout: the endpoint is unreachable) from a stall.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        trace = request.extensions.get("trace")
        if trace is not None:
            # The request leaves at the next await: what httpcore's trace says at connect.
            await trace("connection.connect_tcp.started", {})
        # The target's ByteStream: one chunk, the encoded body (joining one chunk copies nothing).
        content = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        with _mapped_errors(request):
            response = await session.request(
                request.method,
                # Encoded=True: sent byte for byte as httpx holds it (a SigV4 signature covers
                # the path as sent, a Bedrock model id's %3A included); yarl would decode it.
                # Without userinfo, as httpcore sends it: credentials in a base URL never leave
                # (aiohttp would also refuse them beside an Authorization header).
                yarl.URL(str(request.url.copy_with(username=None, password=None)), encoded=True),
                headers=request.headers.multi_items(),
                data=content,
                allow_redirects=False,
                compress=None,
                timeout=self._timeout(request.extensions),
            )
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": _reason(response)},
            request=request,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _Body(httpx.AsyncByteStream):
    """The answer's raw bytes as they arrive; its connection reused once read to the end."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with _mapped_errors(self._request):
            while chunk := await content.read(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to the end: the connection goes back to the pool
        else:
            self._response.close()  # read in part (a bound, an error): never reused


def _reason(response: aiohttp.ClientResponse) -> bytes:
    return (response.reason or "").encode("ascii", "replace")


@contextmanager
def _mapped_errors(request: httpx.Request) -> Iterator[None]:
    """aiohttp's exceptions as httpx's, which the target tells apart: a connection that never
    opened (unreachable: the breaker counts it), a timeout, a connection that broke."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(_text(exc, "timed out connecting"), request=request) from exc
    except aiohttp.SocketTimeoutError as exc:
        raise httpx.ReadTimeout(_text(exc, "timed out reading"), request=request) from exc
    except aiohttp.ClientConnectorCertificateError as exc:  # TLS verification
        # Its own message: its os_error raises AttributeError in aiohttp 3.10.5 (the lowest
        # declared).
        raise httpx.ConnectError(_text(exc, "certificate verify failed"), request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, DNS, other TLS failures
        raise httpx.ConnectError(_text(exc.os_error, str(exc)), request=request) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a complete response.", request=request
        ) from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpx.RemoteProtocolError(_text(exc, "incomplete body"), request=request) from exc
    except aiohttp.ClientResponseError as exc:  # a malformed status line or headers
        raise httpx.RemoteProtocolError(exc.message or str(exc), request=request) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise httpx.ReadError(_text(exc, type(exc).__name__), request=request) from exc


def _text(exc: BaseException, default: str) -> str:
    return str(exc) or default
