"""Run the reference server in the foreground: ``python -m pytest_chatexp.testing``.

Meant for trying examples and benchmarks by hand against a local, deterministic
OpenAI-compatible endpoint. Serves until Ctrl-C or SIGTERM, then exits cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from pytest_chatexp.testing._server import ReferenceServer


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_chatexp.testing",
        description="Serve the pytest-chatexp reference LLM API on a loopback port.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds added to every reply (default: %(default)s)",
    )
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM (and an inherited-as-ignored SIGINT) into the usual Ctrl-C path."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; returns the process exit code."""
    args = _parse_args(argv)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ReferenceServer(host=args.host, port=args.port, latency=args.latency) as server:
            print(
                f"pytest-chatexp reference server on {server.url} "
                f"(OpenAI base URL: {server.base_url})",
                flush=True,
            )
            while True:
                time.sleep(3600)  # unlike Event.wait(), interruptible by signals everywhere
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
