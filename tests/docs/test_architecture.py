"""The package keeps the shape ARCHITECTURE.md describes: imports point one way, no cycles, small modules.

The rules are checked on the source, so a change that bends them fails here rather than in review:

- ``lint-imports`` (import-linter, configured in pyproject.toml) keeps the layers contract and the
  reference server's independence;
- no import cycle between modules, function-local and ``TYPE_CHECKING`` imports counted (grimp,
  which import-linter builds its graph with, sees every import statement);
- the top level of the package holds only the entry points and the leaf modules;
- no module over ``MAX_LINES`` lines, no ``Mapping[str, Any]`` in the reports' signatures, and the
  regex parser of the recording-miss message and the price solver are gone.

Each allowlist names what is known to break a rule today (issue 14 removes them); an entry that no
longer breaks it fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pytest_chatexp"
MAX_LINES = 450

# issue 14: each entry is removed by the lead's merge; the lists end empty.
TOO_LONG: set[str] = set()
# Not an allowlist but the one exemption: the module that reads the JSON report file (a file
# format, possibly written by another version) into typed entries takes the parsed JSON (its
# lenient reads of single values live in _lenient).
JSON_READERS = {"_reports/_entries.py", "_reports/_lenient.py"}
MAPPING_IN_SIGNATURES: set[str] = set()
# Names of code that re-derives from message text what the records dropped upstream.
REDERIVED = ("_parse_miss", "_PriceBook")
REDERIVING: set[str] = set()

TOP_LEVEL = {
    "__init__.py",
    "plugin.py",
    "report.py",
    "_errors.py",
    "_util.py",
    "_pricing.py",
    "_validation.py",
    "_reading.py",
    "py.typed",
}
SUBPACKAGES = {
    "_experiment",
    "_providers",
    "_recording",
    "_calls",
    "checks",
    "_reports",
    "_session",
}
# The reference server, and one leaf that is a package: _redaction's modules share its layer.
SUBPACKAGES |= {"testing", "_redaction"}
# The importers' command (python -m pytest_chatexp.migrate): an entry point that is a package.
SUBPACKAGES |= {"migrate"}


def _modules() -> dict[str, Path]:
    return {
        path.relative_to(PACKAGE).as_posix(): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _importlinter_contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        contracts: list[dict[str, Any]] = tomllib.load(file)["tool"]["importlinter"]["contracts"]
    return contracts


def _check_allowlist(rule: str, offenders: set[str], allowed: set[str]) -> None:
    new = sorted(offenders - allowed)
    assert not new, f"{rule}: {new}"
    fixed = sorted(allowed - offenders)
    assert not fixed, f"{rule} no longer holds for {fixed}: remove them from the allowlist"


def test_lint_imports_keeps_every_contract() -> None:
    # The `lint-imports` command, run by this interpreter whatever its scripts folder is.
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    done = subprocess.run(
        [sys.executable, "-c", command, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_the_layers_name_every_top_level_module() -> None:
    layers = next(c for c in _importlinter_contracts() if c["type"] == "layers")
    named = {name.strip() for layer in layers["layers"] for name in str(layer).split("|")}
    expected = {name.removesuffix(".py") for name in TOP_LEVEL | SUBPACKAGES}
    assert named == expected - {"__init__", "py.typed"}
    assert layers["exhaustive"] is True


def test_no_import_cycle_counting_function_local_imports() -> None:
    # The whole graph: an import a contract's ignore_imports lets through still counts here.
    graph = grimp.build_graph("pytest_chatexp", cache_dir=None)
    cycles = _strongly_connected(
        {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    )
    assert not cycles, "\n".join(" -> ".join(sorted(cycle)) for cycle in cycles)


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module (a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def test_strongly_connected_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e", "d"}}
    assert _strongly_connected(edges) == [{"a", "b", "c"}]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []


def test_the_top_level_holds_only_entry_points_and_leaves() -> None:
    entries = {path.name for path in PACKAGE.iterdir() if path.name != "__pycache__"}
    assert entries == TOP_LEVEL | SUBPACKAGES
    for name in SUBPACKAGES:
        assert (PACKAGE / name / "__init__.py").is_file(), name


def test_no_module_is_too_long() -> None:
    lengths = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    too_long = {name for name, length in lengths.items() if length > MAX_LINES}
    _check_allowlist(f"modules over {MAX_LINES} lines", too_long, TOO_LONG)


def _signature_annotations(tree: ast.Module) -> list[ast.expr]:
    annotations: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
            annotations += [arg.annotation for arg in every if arg.annotation is not None]
            if node.returns is not None:
                annotations.append(node.returns)
    return annotations


def _is_loose_mapping(annotation: ast.expr) -> bool:
    """``Mapping[str, Any]``, ``dict[str, Any]`` and kin: JSON-like data, not a typed record."""
    text = ast.unparse(annotation).replace("'", "").replace('"', "")
    kinds = ("Mapping", "MutableMapping", "dict", "Dict")
    return any(re.search(rf"\b{kind}\[str, Any\]", text) for kind in kinds)


def test_reports_take_typed_records_not_mappings() -> None:
    loose = {
        name
        for name, path in _modules().items()
        if name.startswith("_reports/")
        and name not in JSON_READERS
        and any(map(_is_loose_mapping, _signature_annotations(ast.parse(path.read_text()))))
    }
    _check_allowlist(
        "Mapping[str, Any] or dict[str, Any] in a report signature", loose, MAPPING_IN_SIGNATURES
    )


def test_loose_mapping_is_found_in_signatures_only() -> None:
    source = (
        "def f(a: Mapping[str, Any], *, b: 'int', c: 'dict[str, Any] | None') -> None: ...\n"
        "def g(d: dict[str, int], e: typing.Dict[str, Any]) -> subdict[str, Any]: ...\n"
        "x: Mapping[str, Any] = {}\n"
    )
    found = [ast.unparse(a) for a in _signature_annotations(ast.parse(source))]
    assert found == [
        "Mapping[str, Any]",
        "'int'",
        "'dict[str, Any] | None'",
        "None",
        "dict[str, int]",
        "typing.Dict[str, Any]",
        "subdict[str, Any]",
    ]
    assert [_is_loose_mapping(ast.parse(a, mode="eval").body) for a in found] == [
        True,
        False,
        True,
        False,
        False,
        True,
        False,
    ]


def test_nothing_re_derives_from_message_text() -> None:
    rederiving = {
        name
        for name, path in _modules().items()
        if any(word in path.read_text() for word in REDERIVED)
    }
    _check_allowlist(f"{' and '.join(REDERIVED)} still defined or used", rederiving, REDERIVING)


def test_the_reference_server_imports_nothing_of_the_plugin() -> None:
    # The forbidden contract names the plugin's modules one by one; this also covers the root
    # package (pytest_chatexp/__init__.py) and any module added later.
    graph = grimp.build_graph("pytest_chatexp", cache_dir=None)
    server = {
        m
        for m in graph.modules
        if m == "pytest_chatexp.testing" or m.startswith("pytest_chatexp.testing.")
    }
    outside = {
        f"{module} -> {imported}"
        for module in server
        for imported in graph.find_modules_directly_imported_by(module)
        if imported not in server
    }
    assert not outside
