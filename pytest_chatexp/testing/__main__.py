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
from pathlib import Path
from types import FrameType

from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from pytest_chatexp.testing._server import ReferenceServer

#: Served with ``--stats``: GET reads the counters, POST resets them (and the request log).
STATS_PATH = "/_stats"


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
    parser.add_argument(
        "--stats",
        action="store_true",
        help=f"serve {STATS_PATH}: GET reads requests, peak concurrency, connections and "
        "this process's CPU seconds; POST resets them (for benchmarks in another process)",
    )
    parser.add_argument(
        "--humanloop-config",
        type=Path,
        metavar="FILE",
        help="a YAML (or JSON) file declaring Humanloop projects, stored model configs, "
        "experiments and deployments for the /v4/chat-* routes",
    )
    return parser.parse_args(argv)


def add_stats_route(server: ReferenceServer) -> None:
    """Let a client in another process read (GET) and reset (POST) the server's counters.

    CPU time is the whole server process's, so a benchmark can tell whether the server, not
    the client under test, is the bottleneck.
    """

    async def stats(request: RecordedRequest) -> Response:
        if request.method == "POST":
            server.reset_stats()
            server.requests.clear()
        return json_response(
            {
                "requests": len(server.requests),
                "max_in_flight": server.max_in_flight,
                "connections_accepted": server.connections_accepted,
                "cpu_s": time.process_time(),
            }
        )

    server.routes[("GET", STATS_PATH)] = stats
    server.routes[("POST", STATS_PATH)] = stats


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
            if args.humanloop_config is not None:
                # Imported only with the option: it reads YAML.
                from pytest_chatexp.testing._humanloop_file import load_humanloop_file

                load_humanloop_file(args.humanloop_config, server.humanloop)
            if args.stats:
                add_stats_route(server)
            print(
                f"pytest-chatexp reference server on {server.url} "
                f"(OpenAI base URL: {server.base_url})",
                flush=True,
            )
            while True:
                time.sleep(3600)  # unlike Event.wait(), interruptible by signals everywhere
    except KeyboardInterrupt:
        return 0
    except ValueError as exc:  # a --humanloop-config mistake, naming file and field
        print(f"error: --humanloop-config {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
