"""SigV4 for Bedrock calls without a Bedrock API key, by botocore's own signer (the optional
extra ``pytest-chatexp[bedrock]``): credentials from botocore's chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and the shared files, ...).

Signed when sent, over the exact URL and bytes that go out: the ``Host`` and ``Content-Type``
headers and any ``X-Amz-*`` one (not the transport's own: ``Connection``, ``Accept-Encoding``
and ``User-Agent`` are not the request's meaning). The headers it adds (``Authorization``,
``X-Amz-Date``, ``X-Amz-Security-Token``) go only on the wire, as a key does: never in the
recorded request, its fingerprint, a report or a message. The secret key and session token are
also made known secrets, so that one read from a profile file is redacted like one from the
environment.

This module is imported only to sign, so botocore is never loaded by an inert run, a replay,
or a call with a bearer token.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._errors import ProviderError
from .._experiment._config import ModelConfig
from .._redaction import remember_secrets

__all__ = ["SIGNING_SERVICE", "signing_region", "sigv4_headers"]

SIGNING_SERVICE = "bedrock"
_SIGNED_NAMES = frozenset({"host", "content-type"})
_ADDED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")
_HOST_REGION = re.compile(r"^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com", re.ASCII)
# What botocore reads credentials from in the environment: a change means a new session.
_CREDENTIAL_ENVS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)


def signing_region(url: str) -> str:
    """The region a request is signed for: the one in a Bedrock endpoint's host name, else
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else ``us-east-1``."""
    match = _HOST_REGION.match(urlsplit(url).hostname or "")
    if match:
        return match.group(1)
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def sigv4_headers(
    config: ModelConfig, url: str, headers: Mapping[str, str], body: bytes
) -> dict[str, str]:
    """The SigV4 headers for one Bedrock request, or a ProviderError saying what is missing."""
    where = f"model config '{config.display_name}' (provider 'bedrock')"
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
    except ImportError:
        raise ProviderError(
            f"{where}: no Bedrock API key and no AWS signer: set AWS_BEARER_TOKEN_BEDROCK to a "
            "Bedrock API key, or pip install 'pytest-chatexp[bedrock]' (botocore) to sign "
            "requests with your AWS credentials"
        ) from None
    credentials = _session(
        tuple(os.environ.get(name) for name in _CREDENTIAL_ENVS)
    ).get_credentials()
    if credentials is None:
        raise ProviderError(
            f"{where}: no Bedrock API key and no AWS credentials: set AWS_BEARER_TOKEN_BEDROCK, "
            "or AWS credentials botocore finds (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, ...)"
        )
    frozen = credentials.get_frozen_credentials()
    remember_secrets([frozen.secret_key, frozen.token])
    signed = {
        name: value
        for name, value in headers.items()
        if name.lower() in _SIGNED_NAMES or name.lower().startswith("x-amz-")
    }
    request = AWSRequest(method="POST", url=url, data=body, headers=signed)
    SigV4Auth(frozen, SIGNING_SERVICE, signing_region(url)).add_auth(request)
    return {name: request.headers[name] for name in _ADDED if name in request.headers}


@functools.lru_cache(maxsize=4)
def _session(environment: tuple[str | None, ...]) -> Any:
    """A botocore session per credential environment: its credentials are resolved once (the
    chain reads files, maybe the network), not per call."""
    import botocore.session

    return botocore.session.get_session()
