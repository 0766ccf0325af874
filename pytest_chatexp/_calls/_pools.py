"""Which transport carries the HTTP target's requests, and what httpx's own needs to run fast.

aiohttp's (``_aiohttp``) when aiohttp is installed (``pytest-chatexp[fast]``), unless
``CHATEXP_HTTP_TRANSPORT=httpx`` says otherwise; httpx's own, one connection per transport
(``_http._Connections``), when not. Chosen when an endpoint's first request is sent, so a run
that makes no live call imports neither.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import sys

from ._httpx import httpx

__all__ = ["TRANSPORT_VARIABLE", "fail_fast_importing_sniffio", "shared_transport"]

TRANSPORT_VARIABLE = "CHATEXP_HTTP_TRANSPORT"


def shared_transport(ssl_context: ssl.SSLContext) -> httpx.AsyncBaseTransport | None:
    """aiohttp's transport, which pools its connections in O(1) and parses HTTP in C: a fifth
    of httpx's transport CPU per request (bench/README.md); ``None``: httpx's, one per
    connection."""
    if os.environ.get(TRANSPORT_VARIABLE, "").strip().lower() == "httpx":
        return None
    if importlib.util.find_spec("aiohttp") is None:
        return None
    from ._aiohttp import AiohttpTransport

    return AiohttpTransport(ssl_context)


def fail_fast_importing_sniffio() -> None:
    """httpcore runs ``import sniffio`` whenever it creates an event, lock or cancel shield,
    several times per request. When sniffio is not installed (anyio>=4.5 no longer requires
    it), each of those failing imports searches all of ``sys.path`` again: about 80 us each,
    a third of a request's CPU. ``None`` in ``sys.modules`` is Python's documented way to make
    an import fail at once, with the same ModuleNotFoundError."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
