"""The docs site (MkDocs, Material theme, mkdocstrings) builds with --strict, offline, and its
reference pages cover the public API: a name exported and not documented fails here.

The build runs in a subprocess whose sockets refuse to connect: nothing (a theme's web fonts, a
plugin's inventory) may be fetched at build time, in CI or on a laptop without a network.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_chatexp
import pytest_chatexp.testing
from pytest_chatexp import checks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# As the README writes it (its `python -m mkdocs build --strict`), plus where the site goes.
BUILD = ["python", "-m", "mkdocs", "build", "--strict"]

# Sockets that never connect, then MkDocs' own command line.
OFFLINE_MKDOCS = """
import socket
import sys


def refuse(*args, **kwargs):
    raise OSError("the docs build tried to use the network")


socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from mkdocs.__main__ import cli

sys.exit(cli())
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per module (about 10 s)."""
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_MKDOCS, *BUILD[3:], "--site-dir", str(site)],
        cwd=ROOT,  # mkdocs.yml's paths (the snippets' base, mkdocstrings') are the checkout's
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # no end-of-life banner
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert not warnings
    return site


def test_the_site_builds_strictly_and_offline(site: Path) -> None:
    pages = sorted(path.relative_to(DOCS).with_suffix("") for path in DOCS.rglob("*.md"))
    for page in pages:
        built = site / ("index.html" if page.name == "index" else f"{page}/index.html")
        assert built.is_file(), f"docs/{page}.md was not built"


def test_the_pages_load_nothing_from_the_network(site: Path) -> None:
    """Links out are fine; a stylesheet, script, font or image from another host is not."""
    loads = re.compile(r"<(?:link|script|img)\b[^>]*(?:href|src)=\"(https?:)?//", re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not loads.search(text), f"{page.relative_to(site)} loads from the network"
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text


def rendered_ids(site: Path, page: str) -> set[str]:
    text = (site / page / "index.html").read_text(encoding="utf-8")
    return set(re.findall(r'\bid="([\w.]+)"', text))


def test_the_reference_renders_every_public_name_from_its_docstring(site: Path) -> None:
    api = rendered_ids(site, "reference/models") | rendered_ids(site, "reference/errors")
    api |= rendered_ids(site, "reference/markers")
    public = [name for name in pytest_chatexp.__all__ if not name.startswith("_")]
    missing = [name for name in public if f"pytest_chatexp.{name}" not in api]
    assert not missing, f"not in docs/reference/models.md or errors.md: {missing}"
    testing = rendered_ids(site, "reference/testing")
    missing = [
        name
        for name in pytest_chatexp.testing.__all__
        if f"pytest_chatexp.testing.{name}" not in testing
    ]
    assert not missing, f"not in docs/reference/testing.md: {missing}"
    rendered = rendered_ids(site, "reference/checks")
    missing = [name for name in checks.__all__ if f"pytest_chatexp.checks.{name}" not in rendered]
    assert not missing, f"not rendered in docs/reference/checks.md: {missing}"


def test_every_error_is_in_the_error_tree() -> None:
    text = (DOCS / "reference" / "errors.md").read_text(encoding="utf-8")
    tree = text.split("## API", 1)[0]
    errors = [
        name
        for name in pytest_chatexp.__all__
        if isinstance(getattr(pytest_chatexp, name), type)
        and issubclass(getattr(pytest_chatexp, name), pytest_chatexp.ChatexpError)
    ]
    assert len(errors) >= 10
    missing = [
        name
        for name in errors
        if f"`{name}`" not in tree and f"`pytest_chatexp.{name}`" not in tree
    ]
    assert not missing, f"errors the tree in docs/reference/errors.md leaves out: {missing}"


def test_every_page_is_in_the_nav() -> None:
    """MkDocs warns about a page left out of the nav (strict: fails); this names it sooner."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w/\-]+\.md)\s*$", config, re.M))
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert pages == listed
