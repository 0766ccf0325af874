"""What the report tests share: the options writing all three reports, and reading them back."""

from __future__ import annotations

import json
from pathlib import Path

REPORTS = ("--chatexp-json=r.json", "--chatexp-markdown=r.md", "--chatexp-html=r.html")


def read_reports(path: Path) -> tuple[dict, str, str]:  # type: ignore[type-arg]
    """The JSON report, the Markdown summary and the HTML page that ``REPORTS`` wrote in ``path``."""
    report = json.loads((path / "r.json").read_text())
    return report, (path / "r.md").read_text(), (path / "r.html").read_text()
