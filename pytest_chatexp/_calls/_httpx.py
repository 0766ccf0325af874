"""httpx, imported without its command-line tool: every module of this layer imports httpx from
here (``from ._httpx import httpx``).

httpx's ``__init__`` imports ``httpx._main`` whenever click, rich and pygments are installed
(common: many tools bring them), and those take longer to import than httpx itself (80-130 ms
of CPU measured here, in every session that makes a call), for a CLI a test run never starts.
A ``None`` in ``sys.modules`` makes that one import fail, as it would without them, and httpx
defines its stub ``main``; the entry is removed at once, so ``import httpx._main`` still works
for whoever asks. When httpx was imported before (by the app under test), nothing changes.
"""

from __future__ import annotations

import sys

__all__ = ["httpx"]

if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx as httpx
    finally:
        del sys.modules["httpx._main"]
else:
    import httpx as httpx
