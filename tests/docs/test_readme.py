"""Every fenced code block in README.md and the docs site (docs/**/*.md) runs, or is checked
against the code, so the docs cannot rot.

Each block is classified by its info string, and every kind has a handler; a block of any other
kind (or with no info string) fails ``test_block``:

- ``python``: a test module is run by pytester as a real pytest session against the loopback
  reference server (the ``server`` fixture: live calls, record mode ``off``) and must pass; a
  ``conftest`` block becomes the conftest.py of a session whose probe test checks its defaults
  apply; a ``script`` block is run with Python and must exit 0.
- ``yaml``: a prompt file, loaded by the plugin's prompt-file loader (``load_model_configs``).
- ``jsonl``: a dataset, loaded by ``load_dataset``.
- ``ini``: a pytest ini file: its keys must be registered settings, and a session runs with it
  (prices are checked against what ``cost_of`` computes).
- ``sh``: commands. The first two shell commands of the README are compared with ``.ci/run``;
  ``python -m mkdocs`` commands must be the docs build test_docs_site.py runs, or serve it;
  every ``pytest`` command's options must exist and parse (``--chatexp-*`` ones are named if
  not); ``python -m pytest_chatexp.report`` commands run for real in a temporary directory
  (on JSON reports made by real runs); ``python -m pytest_chatexp.testing`` is started for real
  and answers a request; a ``uv pip install`` must be one .ci/run runs; installs, virtualenvs and
  third-party servers (the local-model recipe) are checked for form only. Any other command fails.
- ``console``: ``$ command`` lines with the output expected after them. Outside the quickstart a
  ``pytest`` command runs for real (on a copy of the repository paths it names) and its output
  must match.
- ``diff``: the quickstart's prompt change, applied to the quickstart's test file.
- ``text``: ``output`` (the output of the runnable block right before it, matched by that
  block's test) or ``layout`` (every path in it exists).

Expected output is matched with fnmatch patterns, one per line, in order: a ``...`` line elides
any lines, runs of spaces match any text, and durations (``0.52s``) match any duration.

Hints are HTML comments right before a block: ``<!-- docs-test: WORD key=value ... -->`` with
the words in ``HINTS``. A page's quickstart blocks (hint ``quickstart``: the README's short one,
the tutorial's whole one) are also played in order, as one scenario, by ``test_quickstart``.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import select
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from pytest_chatexp import checks, load_dataset, load_model_configs
from pytest_chatexp._session._options import ExperimentOptions

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

HINTS = {
    "quickstart": "a step of the quickstart, played in order by test_quickstart",
    "offline": "(quickstart) the reference server is stopped before this step",
    "file": "the file name a python block is written as",
    "conftest": "the python block is a conftest.py",
    "examples": "the block runs beside a copy of examples/ (its conftest, prompts and data)",
    "script": "the python block is a script: it must run and exit 0",
    "humanloop-config": "the yaml block is a --humanloop-config file for the reference server",
    "approved": "the yaml block is a semantic snapshot's approved answers, read as the plugin does",
    "outcome": "what the python test module must do: passed (default) or failed",
    "output": "the text block is the output of the runnable block right before it",
    "layout": "the text block is the repository layout",
    "excerpt": "the block is an excerpt of this repository file: its lines, in order ('...' skips)",
}

_FENCE = re.compile(r"^```(.*)$")
_HINT = re.compile(r"^<!--\s*docs-test:(.*?)-->\s*$")
_DURATION = re.compile(r"\d+\.\d+s\b")
NO_DEFAULT = "\N{EN DASH}"  # how the options table shows "no default"


# -- parsing the pages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    doc: str  # the page, relative to the repository: README.md, docs/tutorial.md, ...
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    hints: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.doc}:L{self.line}-{self.info or 'no-info'}"

    def where(self) -> str:
        return f"{self.doc} line {self.line} (```{self.info})"


def parse_blocks(text: str, doc: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    number = 0
    hints: dict[str, str] = {}
    while number < len(lines):
        line = lines[number]
        hint = _HINT.match(line.strip())
        if hint is not None:
            hints = dict(word.partition("=")[::2] for word in shlex.split(hint.group(1)))
            number += 1
            continue
        opening = _FENCE.match(line)
        if opening is not None:
            start = number
            number += 1
            body: list[str] = []
            while number < len(lines) and lines[number].rstrip() != "```":
                body.append(lines[number])
                number += 1
            info = opening.group(1).strip()
            blocks.append(Block(doc, start + 1, info, "\n".join(body) + "\n", hints))
            hints = {}
        elif line.strip():
            hints = {}  # a hint belongs to the block right after it
        number += 1
    return blocks


# The README first: its first two shell commands are the ones CI runs.
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in [README, *sorted(DOCS.rglob("*.md"))]
}
README_TEXT = PAGES["README.md"]
BLOCKS = [block for doc, text in PAGES.items() for block in parse_blocks(text, doc)]
QUICKSTARTS = {
    doc: [block for block in BLOCKS if block.doc == doc and "quickstart" in block.hints]
    for doc in PAGES
}
QUICKSTARTS = {doc: blocks for doc, blocks in QUICKSTARTS.items() if blocks}


def headings(text: str) -> list[tuple[int, str, int]]:
    """(level, title, offset) of each Markdown heading, code blocks skipped (``# comment``)."""
    found: list[tuple[int, str, int]] = []
    fenced = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"^(#{1,6}) (.+)$", line.rstrip("\n"))
        if match is not None:
            found.append((len(match.group(1)), match.group(2), offset))
        offset += len(line)
    return found


def section(heading: str, doc: str = "README.md") -> str:
    """The text of one section of a page, its subsections included."""
    text = PAGES[doc]
    marks = headings(text)
    for number, (level, title, offset) in enumerate(marks):
        if title == heading:
            ends = [later for deeper, _, later in marks[number + 1 :] if deeper <= level]
            start = text.index("\n", offset) + 1
            return text[start : ends[0] if ends else len(text)]
    pytest.fail(f"{doc} has no section '{heading}'")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings, as GitHub and MkDocs (toc) make them."""
    return {
        re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for _, title, _ in headings(text)
    }


def table_rows(text: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table in ``text``, header excluded."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            break
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    return [row for row in rows[2:]] if len(rows) > 2 else []


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# -- what the plugin registers ----------------------------------------------------------------------


@dataclass
class Registered:
    options: dict[str, str | None]  # --chatexp-x -> metavar (None for flags)
    ini: set[str]
    fixtures: dict[str, str]  # name -> scope


_REGISTERED: list[Registered] = []


def registered(pytester: pytest.Pytester) -> Registered:
    """The options, ini settings and fixtures the plugin adds, as ``pytest --help`` and
    ``pytest --fixtures`` list them (computed once per process)."""
    if not _REGISTERED:
        help_text = pytester.runpytest("--help").stdout.str()
        options: dict[str, str | None] = {}
        for match in re.finditer(r"^  (--chatexp-[a-z-]+)(?:=(\S+))?", help_text, re.M):
            options[match.group(1)] = match.group(2)
        ini = set(re.findall(r"^  (chatexp_\w+) \(", help_text, re.M))
        fixtures_text = pytester.runpytest("--fixtures").stdout.str()
        part = fixtures_text.split("fixtures defined from pytest_chatexp.plugin", 1)[1]
        part = re.split(r"^-{3,}|^={3,}", part.split("\n", 1)[1], flags=re.M)[0]
        fixtures = {
            match.group(1): match.group(2) or "function"
            for match in re.finditer(r"^(\w+)(?: \[(\w+) scope\])? -- ", part, re.M)
        }
        _REGISTERED.append(Registered(options, ini, fixtures))
    return _REGISTERED[0]


# -- shell commands -----------------------------------------------------------------------------------


@dataclass
class Command:
    text: str
    env: dict[str, str]  # leading VAR=value assignments
    argv: list[str]
    expected: list[str] = field(default_factory=list)  # console output lines

    @property
    def kind(self) -> str:
        argv = self.argv
        if not argv:
            return "assignment"
        if argv[0] == "export":
            return "export"
        module = argv[2] if argv[:2] in (["python", "-m"], ["python3", "-m"]) and argv[2:] else None
        if argv[0] == "pytest" or module == "pytest":
            return "pytest"
        if module == "pytest_chatexp.report":
            return "report"
        if module == "pytest_chatexp.testing":
            return "testing"
        if module == "pytest_chatexp.migrate":
            return "migrate"
        if module == "venv":
            return "venv"
        if module == "mkdocs":
            return "docs"
        if (module == "pip" and argv[3:4] == ["install"]) or argv[:2] == ["pip", "install"]:
            return "install"
        if argv[:3] == ["uv", "pip", "install"]:
            return "ci-install"
        if module in THIRD_PARTY_SERVERS:
            return "third-party"
        return "unknown"

    def pytest_args(self) -> list[str]:
        return self.argv[1:] if self.argv[0] == "pytest" else self.argv[3:]


# Servers a recipe starts that this suite cannot run (not installed, and they need a model file).
THIRD_PARTY_SERVERS = {
    "llama_cpp.server": "llama-cpp-python's OpenAI-compatible server",
}


def _command(line: str) -> Command:
    words = shlex.split(line, comments=True)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return Command(line, env, words)


def commands(block: Block) -> list[Command]:
    """The commands of a sh or console block (console: ``$ `` lines, with their output)."""
    found: list[Command] = []
    lines = block.text.replace("\\\n", " ").splitlines()
    for line in lines:
        if block.info == "console":
            if line.startswith("$ "):
                found.append(_command(line[2:]))
            elif found:
                found[-1].expected.append(line)
            else:
                pytest.fail(f"{block.where()}: output before any '$ ' command: {line!r}")
        elif line.strip() and not line.lstrip().startswith("#"):
            found.append(_command(line.strip()))
    return found


SHELL_COMMANDS = [
    command
    for block in BLOCKS
    if block.doc == "README.md" and block.info in ("sh", "console")
    for command in commands(block)
]
SETUP = [command.text for command in SHELL_COMMANDS[:2]]


CI_LINES = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]


def ci_line(text: str) -> str:
    """A line of .ci/run as the README writes it: its variables (the interpreter, virtualenv
    and uv of each environment it runs in) by the names a reader types, without --quiet."""
    for variable, name in (('"$python3"', "python3"), ('"$environment"', ".venv"), ('"$uv"', "uv")):
        text = text.replace(variable, name)
    return text.replace(" --quiet", "")


def check_setup_command(command: Command) -> None:
    """The README's first two commands are the ones .ci/run runs (in each of its virtualenvs;
    the install is the one of the newest versions)."""
    lines = CI_LINES
    checked = [line.removeprefix("checked ") for line in lines if line.startswith("checked ")]
    assert len(checked) == 2, f".ci/run runs {len(checked)} checked commands, the README two"
    venv = next(line for line in lines if line.startswith('"$python3" -m venv '))
    activate = next(line for line in lines if line.startswith(". "))
    install = next(line for line in lines if line.startswith("python -m pip install"))
    expected = [
        " && ".join([ci_line(venv), ci_line(activate), ci_line(install), checked[0]]),
        checked[1],
    ]
    position = SETUP.index(command.text)
    assert command.text == expected[position], (
        f"README set-up command {position + 1} differs from what .ci/run runs:\n"
        f"  README:  {command.text}\n  .ci/run: {expected[position]}"
    )


def check_ci_install(command: Command) -> None:
    """An install .ci/run runs in some of its virtualenvs (the CI section's lowest versions)."""
    assert command.text in [ci_line(line) for line in CI_LINES], (
        f"`{command.text}` is not a command of .ci/run"
    )


def check_pytest_options(command: Command, pytester: pytest.Pytester) -> None:
    """Every --chatexp-* option exists, and the whole command line parses and configures."""
    known = registered(pytester).options
    args = command.pytest_args()
    for arg in args:
        if arg.startswith("--chatexp"):
            name = arg.split("=", 1)[0]
            assert name in known, f"README command `{command.text}`: no option {name}"
    try:
        pytester.parseconfigure(*args)
    except pytest.UsageError as exc:
        pytest.fail(f"README command `{command.text}` is not valid: {exc}")


def check_install(command: Command) -> None:
    """An install step of a recipe: not run (network, native builds); its form is checked."""
    from packaging.requirements import Requirement

    args = command.argv[command.argv.index("install") + 1 :]
    packages = [arg for arg in args if not arg.startswith("-")]
    assert packages, f"`{command.text}` installs nothing"
    for option in (arg for arg in args if arg.startswith("-")):
        assert option in ("--no-deps", "--upgrade", "-U", "--quiet", "-q"), (
            f"`{command.text}`: unexpected pip option {option}"
        )
    for package in packages:
        Requirement(package)  # raises on a malformed requirement


def check_third_party_server(command: Command) -> None:
    """A recipe's server (THIRD_PARTY_SERVERS), not run: where it listens and the model name it
    serves are what the example recorded from it sends to."""
    argv = command.argv
    options = {arg: argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg.startswith("--")}
    assert {"--model", "--host", "--port", "--model_alias"} <= set(options), (
        f"`{command.text}`: name the model file, --host, --port and --model_alias"
    )
    example = (EXAMPLES / "test_local_model.py").read_text(encoding="utf-8")
    base_url = f'"http://{options["--host"]}:{options["--port"]}/v1"'
    model = f'model="{options["--model_alias"]}"'
    for wanted in (base_url, model):
        assert wanted in example, f"`{command.text}`: examples/test_local_model.py has no {wanted}"


# The docs site's commands: the strict build is the one tests/docs/test_docs_site.py runs.
DOCS_COMMANDS = ("python -m mkdocs build --strict", "python -m mkdocs serve")


def check_docs_command(command: Command) -> None:
    assert command.text in DOCS_COMMANDS, f"`{command.text}`: expected one of {DOCS_COMMANDS}"
    from tests.docs.test_docs_site import BUILD

    assert command.argv[1:] == BUILD[1 : len(command.argv)] or command.argv[3] == "serve"


def check_venv(command: Command) -> None:
    """A recipe's own virtualenv, made and activated: ``python3 -m venv DIR && . DIR/bin/activate``
    (checked for form: not made here)."""
    argv = command.argv
    assert len(argv) == 7 and argv[4:6] == ["&&", "."] and argv[6] == f"{argv[3]}/bin/activate", (
        f"`{command.text}`: expected `python3 -m venv DIR && . DIR/bin/activate`"
    )


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    host_port: str  # 127.0.0.1:PORT

    def stop(self) -> None:
        self.process.terminate()
        try:
            code = self.process.wait(timeout=20)
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()
        assert code == 0, f"the reference server exited with {code} on SIGTERM"


def start_reference_server(command: Command) -> RunningServer:
    """Run `python -m pytest_chatexp.testing ...` for real (on a free port), and call it once."""
    argv = list(command.argv[3:])
    if "--port" in argv:
        argv[argv.index("--port") + 1] = "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_chatexp.testing", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    banner = process.stdout.readline() if ready else ""
    match = re.search(r"on http://(127\.0\.0\.1:\d+) \(OpenAI base URL: (\S+)\)", banner)
    if match is None:
        process.kill()
        process.wait()
        process.stdout.close()
        pytest.fail(f"`{command.text}` did not start: {banner!r}")
    server = RunningServer(process, match.group(1))
    answer = httpx.post(
        match.group(2) + "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
        timeout=30,
    )
    if answer.json()["choices"][0]["message"]["content"] != "echo: ping":
        server.stop()
        pytest.fail(f"`{command.text}` answered {answer.text}")
    return server


SHARD_TEST = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="shard", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "q", "q": "hello"}])
def test_shard(chatexp):
    assert chatexp.outputs == ["echo: hello"]
"""


def run_report_commands(
    block: Block, report_commands: list[Command], pytester: pytest.Pytester
) -> None:
    """Run `python -m pytest_chatexp.report ...` for real, on JSON reports of real runs."""
    pytester.makepyfile(test_shard_one=SHARD_TEST, test_shard_two=SHARD_TEST)
    shards = 0
    for command in report_commands:
        for pattern in (arg for arg in command.argv if "*" in arg):
            for number, name in enumerate(("one", "two"), 1):
                report = pattern.replace("*", str(number))
                result = pytester.runpytest(f"test_shard_{name}.py", f"--chatexp-json={report}")
                result.assert_outcomes(passed=1)
                shards += 1
    for command in report_commands:
        program, rest = command.text.split(" ", 1)  # as written: the shell expands the globs
        assert program == "python", f"`{command.text}`: run it as `python -m ...`"
        line = f"{shlex.quote(sys.executable)} {rest}"
        done = subprocess.run(
            ["bash", "-c", line], cwd=pytester.path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"`{command.text}` failed: {done.stdout}{done.stderr}"
        output = pytester.path / command.argv[command.argv.index("-o") + 1]
        text = output.read_text(encoding="utf-8")
        verb = command.argv[3]
        if verb == "merge":
            assert json.loads(text)["totals"]["tests"] == shards == 2
        elif verb == "markdown":
            assert text.startswith("## pytest-chatexp: all 2 tests passed"), text[:200]
        elif verb == "html":
            assert text.lstrip().lower().startswith("<!doctype html"), text[:200]
            assert "test_shard_two.py::test_shard" in text
        else:
            pytest.fail(f"{block.where()}: unknown report command `{command.text}`")


# -- matching output --------------------------------------------------------------------------------


def patterns(lines: list[str]) -> list[str]:
    """fnmatch patterns for expected output lines (see the module docstring)."""
    found: list[str] = []
    for line in lines:
        if not line.strip() or line.strip() == "...":
            continue
        escaped = "".join(f"[{char}]" if char in "[]*?" else char for char in line.strip())
        escaped = _DURATION.sub("*", escaped)
        found.append("*" + re.sub(r"\s+", "*", escaped) + "*")
    return found


def expected_outcomes(lines: list[str]) -> dict[str, int]:
    """The outcome counts a pytest summary line in the expected output promises."""
    for line in reversed(lines):
        counts = re.findall(r"(\d+) (passed|failed|errors?|skipped)", line)
        if counts and re.search(r" in \d", line):
            names = {"error": "errors", "errors": "errors"}
            return {names.get(word, word): int(count) for count, word in counts}
    return {}


def match_output(result: pytest.RunResult, lines: list[str], where: str) -> None:
    wanted = patterns(lines)
    assert wanted, f"{where}: no expected output"
    output = result.outlines
    position = 0
    for pattern in wanted:
        while position < len(output) and not fnmatch.fnmatch(output[position], pattern):
            position += 1
        if position == len(output):
            pytest.fail(
                f"{where}: the README's output line matching {pattern!r} is not in the real "
                "output (in order):\n" + "\n".join(output)
            )
        position += 1
    outcomes = expected_outcomes(lines)
    if outcomes:
        result.assert_outcomes(**outcomes)


def outputs_after(block: Block) -> list[Block]:
    """The ``output`` text blocks right after a runnable block."""
    index = BLOCKS.index(block)
    found: list[Block] = []
    for later in BLOCKS[index + 1 :]:
        if later.doc != block.doc or later.info != "text" or "output" not in later.hints:
            break
        found.append(later)
    return found


# -- files and copies ----------------------------------------------------------------------------------


def copy_examples(destination: Path, *, tests: bool, conftest: bool = True) -> None:
    """Copy examples/ into ``destination``: its support files (conftest, prompts, data, helper
    modules), and with ``tests`` its test modules, recordings and snapshots too."""
    # Test modules in subfolders (examples/promptfoo/) are tests too.
    tested = () if tests else ("test_*", "__recordings__", "__snapshots__")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *tested)
    destination.mkdir(parents=True, exist_ok=True)
    for entry in EXAMPLES.iterdir():
        is_test = entry.name.startswith("test_") or entry.name in (
            "__recordings__",
            "__snapshots__",
        )
        if entry.name in ("ci", "__pycache__") or (is_test and not tests):
            continue
        if entry.name == "conftest.py" and not conftest:
            continue
        if entry.is_dir():
            shutil.copytree(entry, destination / entry.name, ignore=ignore)
        else:
            shutil.copy2(entry, destination / entry.name)


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newcomer's shell: no record mode, base URL or key set, not inside a CI or an xdist
    worker (syrupy, for one, stays quiet in what it takes for an xdist worker)."""
    for name in (
        "PYTEST_ADDOPTS",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "CI",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
    ):
        monkeypatch.delenv(name, raising=False)


def is_test_module(text: str) -> bool:
    return re.search(r"^\s*(async\s+)?def test_", text, re.M) is not None


def apply_diff(source: str, diff: str) -> str:
    lines = diff.splitlines()
    old = "\n".join(line[1:] for line in lines if line[:1] in ("-", " ") and line[:3] != "---")
    new = "\n".join(line[1:] for line in lines if line[:1] in ("+", " ") and line[:3] != "+++")
    assert source.count(old) == 1, f"the diff's old lines are not in the file once:\n{old}"
    return source.replace(old, new)


# -- handlers ------------------------------------------------------------------------------------------

Handler = Callable[[Block, pytest.FixtureRequest], None]


def handle_python(block: Block, request: pytest.FixtureRequest) -> None:
    compile(block.text, block.where(), "exec")
    if "quickstart" in block.hints:
        assert block.hints.get("file"), f"{block.where()}: a quickstart file needs file="
        assert is_test_module(block.text)
        return  # played by test_quickstart
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    if "script" in block.hints:
        script = pytester.makepyfile(readme_script=block.text)
        result = pytester.runpython(script)
        assert result.ret == 0, (
            f"{block.where()} failed:\n{result.stdout.str()}\n{result.stderr.str()}"
        )
        return
    server = request.getfixturevalue("server")  # OPENAI_BASE_URL, record mode off
    # Azure's examples name no endpoint: their variables point at the reference server too.
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "readme-azure-key")
    monkeypatch.setenv("BEDROCK_BASE_URL", server.url)  # and Bedrock's, with a bearer key
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "readme-bedrock-key")
    # As are the other providers' examples (the Providers section has one per provider).
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("HUMANLOOP_BASE_URL", server.url + "/v4")
    monkeypatch.setenv("HUMANLOOP_API_KEY", "readme-humanloop-key")
    if "conftest" in block.hints:
        if "examples" in block.hints:
            copy_examples(pytester.path, tests=False, conftest=False)
        pytester.makeconftest(block.text)
        pytester.makepyfile(test_conftest_probe=CONFTEST_PROBE)
        pytester.runpytest().assert_outcomes(passed=1)
        return
    assert is_test_module(block.text), (
        f"{block.where()}: a python block is a test module, a conftest or a script (hint)"
    )
    if "examples" in block.hints:
        copy_examples(pytester.path, tests=False)
    name = block.hints.get("file", "test_readme_block.py")
    pytester.makepyfile(**{name.removesuffix(".py"): block.text})
    # A subprocess: earlier in-process runs may have left a module of the same name, or an app
    # registered under the same "module:function", in this interpreter.
    result = pytester.runpytest_subprocess(name)
    outcomes = result.parseoutcomes()
    if block.hints.get("outcome", "passed") == "failed":
        assert outcomes.get("failed", 0) >= 1 and not outcomes.get("errors"), result.stdout.str()
    else:
        expected = len(re.findall(r"^\s*(?:async\s+)?def test_", block.text, re.M))
        assert outcomes.get("passed", 0) >= expected, result.stdout.str()
        assert set(outcomes) == {"passed"}, result.stdout.str()
    for output in outputs_after(block):
        match_output(result, output.text.splitlines(), output.where())


CONFTEST_PROBE = """
import pytest


@pytest.mark.chatexp(inputs="data/support_cases.jsonl")
def test_the_defaults_apply(chatexp, chatexp_config):
    assert chatexp_config, "the README's chatexp_config gives no defaults"
    assert chatexp.cases
    for case in chatexp:
        assert len(case.samples) == chatexp_config.get("num_samples", 1)
"""


def handle_yaml(block: Block, request: pytest.FixtureRequest) -> None:
    if "approved" in block.hints:
        from pytest_chatexp._reports._approved import parse, render

        cases = parse(block.text)  # raises naming the field
        assert cases and render(cases) == block.text, (
            f"{block.where()}: not as the plugin writes it"
        )
        return
    if "humanloop-config" in block.hints:
        from pytest_chatexp.testing._humanloop import HumanloopBackend
        from pytest_chatexp.testing._humanloop_file import load_humanloop_file

        org = request.getfixturevalue("tmp_path") / "humanloop.yaml"
        org.write_text(block.text, encoding="utf-8")
        backend = HumanloopBackend()
        load_humanloop_file(org, backend)  # declares everything, or raises naming the field
        assert backend.model_configs and backend.experiments and backend.deployments
        return
    path = request.getfixturevalue("tmp_path") / "prompts.yaml"
    path.write_text(block.text, encoding="utf-8")
    configs = load_model_configs(path)
    data = yaml.safe_load(block.text)
    entries = data["model_configs"] if isinstance(data, dict) and "model_configs" in data else data
    entries = entries if isinstance(entries, list) else [entries]
    assert [config.name for config in configs] == [entry.get("name") for entry in entries]
    by_name = {config.name: config for config in configs}
    for entry in entries:
        if "extends" in entry:  # the base's fields, then the entry's own
            base, config = by_name[entry["extends"]], by_name[entry["name"]]
            assert config.chat_template == base.chat_template or "chat_template" in entry


def handle_jsonl(block: Block, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue("tmp_path") / "dataset.jsonl"
    path.write_text(block.text, encoding="utf-8")
    rows = [json.loads(line) for line in block.text.splitlines() if line.strip()]
    inputs = load_dataset(path)
    assert [case.id for case in inputs] == [
        row.get("id", f"input-{n}") for n, row in enumerate(rows)
    ]
    for case, row in zip(inputs, rows, strict=True):
        if "inputs" in row:  # structured
            assert case.inputs == row["inputs"]
            assert len(case.messages) == len(row.get("messages", []))
        else:  # flat: every key is a variable
            assert case.inputs == row


def handle_ini(block: Block, request: pytest.FixtureRequest) -> None:
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    parser = configparser.ConfigParser(inline_comment_prefixes=None)
    parser.read_string(block.text)
    assert parser.sections() == ["pytest"], f"{block.where()}: a pytest ini file"
    known = registered(pytester).ini
    for key in parser["pytest"]:
        assert key in known, f"{block.where()}: {key} is not an ini setting of the plugin"
    prices: dict[str, tuple[float, float]] = {}
    for line in parser["pytest"].get("chatexp_prices", "").splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            prices[words[0]] = (float(words[1]), float(words[2]))
    request.getfixturevalue("server")
    pytester.makefile(".ini", pytest=block.text)
    pytester.makepyfile(
        test_prices=f"""
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

PRICES = {prices!r}
CONFIGS = [ModelConfig(name=m, model=m, chat_template=[{{"role": "user", "content": "hi"}}]) for m in PRICES]

@pytest.mark.chatexp(model_configs=CONFIGS)
def test_prices(chatexp):
    for case in chatexp:
        price_in, price_out = PRICES[case.config.model]
        usage = case.usage
        expected = (usage.prompt_tokens * price_in + usage.generation_tokens * price_out) / 1e6
        assert c.cost_of(case) == pytest.approx(expected)
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def handle_shell(block: Block, request: pytest.FixtureRequest) -> None:
    """sh and console blocks."""
    found = commands(block)
    assert found, f"{block.where()}: no command"
    reports: list[Command] = []
    for command in found:
        kind = command.kind
        if command.text in SETUP:
            check_setup_command(command)
        elif kind == "pytest":
            pytester: pytest.Pytester = request.getfixturevalue("pytester")
            check_pytest_options(command, pytester)
        elif kind == "report":
            reports.append(command)
        elif kind == "migrate":
            run_migrate_command(block, command, request)
        elif kind == "testing":
            if "quickstart" not in block.hints:  # the quickstart starts it itself
                start_reference_server(command).stop()
        elif kind == "install":
            check_install(command)
        elif kind == "ci-install":
            check_ci_install(command)
        elif kind == "venv":
            check_venv(command)
        elif kind == "docs":
            check_docs_command(command)
        elif kind == "third-party":
            check_third_party_server(command)
        elif kind == "export":
            pass  # an environment variable
        elif kind == "assignment":
            assert command.env, f"{block.where()}: empty command"
        else:
            pytest.fail(f"{block.where()}: no handler for the command `{command.text}`")
        if command.expected and "quickstart" not in block.hints and kind != "migrate":
            run_console_command(block, command, request)
    if reports:
        pytester = request.getfixturevalue("pytester")
        request.getfixturevalue("server")  # after pytester, whose set-up clears PYTEST_ADDOPTS
        run_report_commands(block, reports, pytester)


def run_console_command(block: Block, command: Command, request: pytest.FixtureRequest) -> None:
    """A `$ python -m pytest PATHS` run for real on copies of the repository paths it names."""
    assert command.kind == "pytest", f"{block.where()}: cannot run `{command.text}`"
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    clean_environment(monkeypatch)
    args = command.pytest_args()
    # The paths it names: not the options, nor the value after -m, -k or -p.
    values = {i + 1 for i, arg in enumerate(args) if arg in ("-m", "-k", "-p")}
    for arg in (arg for i, arg in enumerate(args) if not arg.startswith("-") and i not in values):
        top = arg.split("/", 1)[0]
        assert (ROOT / arg.split("::")[0]).exists(), f"{block.where()}: no {arg} in the repo"
        if top == "examples" and not (pytester.path / "examples").exists():
            copy_examples(pytester.path / "examples", tests=True)
    pytester.makeini("[pytest]\n")  # the rootdir, as the repository's pyproject.toml makes it
    # A subprocess: this worker may have imported the examples' modules under the same names.
    result = pytester.runpytest_subprocess(*args)
    match_output(result, command.expected, block.where())


def run_migrate_command(block: Block, command: Command, request: pytest.FixtureRequest) -> None:
    """A `$ python -m pytest_chatexp.migrate ...` run for real, on a copy of examples/."""
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    if not (pytester.path / "examples").exists():
        copy_examples(pytester.path / "examples", tests=True)
    done = subprocess.run(
        [sys.executable, *command.argv[1:]],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{block.where()}: `{command.text}` failed: {done.stderr}"
    output = done.stdout.splitlines()
    position = 0
    for pattern in patterns(command.expected):
        while position < len(output) and not fnmatch.fnmatch(output[position], pattern):
            position += 1
        assert position < len(output), (
            f"{block.where()}: the README's output line matching {pattern!r} is not in the real "
            "output (in order):\n" + done.stdout
        )
        position += 1


def check_excerpt(block: Block) -> None:
    """Each line of the block (but '...') is a line of the file, in order."""
    source = ROOT / block.hints["excerpt"]
    assert source.is_file(), f"{block.where()}: no {block.hints['excerpt']} in the repository"
    lines = source.read_text(encoding="utf-8").splitlines()
    position = 0
    for line in block.text.splitlines():
        if line.strip() == "...":
            continue
        while position < len(lines) and lines[position] != line:
            position += 1
        assert position < len(lines), (
            f"{block.where()}: {line!r} is not in {block.hints['excerpt']} (in order)"
        )
        position += 1


def handle_diff(block: Block, request: pytest.FixtureRequest) -> None:
    assert "quickstart" in block.hints, f"{block.where()}: a diff must be a quickstart step"
    source = quickstart_files(block.doc)[-1]
    compile(apply_diff(source.text, block.text), block.where(), "exec")


def quickstart_files(doc: str) -> list[Block]:
    return [block for block in QUICKSTARTS[doc] if block.info == "python"]


def handle_text(block: Block, request: pytest.FixtureRequest) -> None:
    if "output" in block.hints:
        before = BLOCKS[BLOCKS.index(block) - 1]
        while before.info == "text" and "output" in before.hints:
            before = BLOCKS[BLOCKS.index(before) - 1]
        runnable = before.doc == block.doc and (
            (before.info == "python" and is_test_module(before.text)) or before.info == "console"
        )
        assert runnable and "quickstart" not in before.hints, (
            f"{block.where()}: an output block must follow a test module or a console block"
        )
        assert block in outputs_after(before)  # so that block's test matches this output
    elif "layout" in block.hints:
        check_layout(block)
    else:
        pytest.fail(f"{block.where()}: a text block needs a hint: output or layout")


def check_layout(block: Block) -> None:
    # Entries nest by two spaces per folder level; a description's continuation is indented
    # further than any entry (past column 8).
    folders: list[str] = []
    for line in block.text.splitlines():
        match = re.match(r"^( {0,8})(\S+)(?:\s{2,}|$)", line)
        if match is None:
            continue  # a continued description
        indent, name = match.groups()
        depth = len(indent) // 2
        del folders[depth:]
        path = "".join(folders) + name
        if name.endswith("/"):
            folders.append(name)
        assert (ROOT / path).exists(), f"{block.where()}: the layout lists {path}, which is gone"


HANDLERS: dict[str, Handler] = {
    "python": handle_python,
    "yaml": handle_yaml,
    "jsonl": handle_jsonl,
    "ini": handle_ini,
    "sh": handle_shell,
    "console": handle_shell,
    "diff": handle_diff,
    "text": handle_text,
}


# -- the tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block(block: Block, request: pytest.FixtureRequest) -> None:
    unknown = set(block.hints) - set(HINTS)
    assert not unknown, f"{block.where()}: unknown hints {sorted(unknown)} (known: {sorted(HINTS)})"
    if "excerpt" in block.hints:
        check_excerpt(block)
        return
    handler = HANDLERS.get(block.info)
    if handler is None:
        pytest.fail(
            f"{block.where()}: no handler for ```{block.info} blocks; known kinds: "
            f"{', '.join(HANDLERS)}. Use one, or teach tests/docs/test_readme.py the new kind."
        )
    handler(block, request)


@pytest.mark.parametrize("doc", list(PAGES))
def test_every_page_is_parsed_whole(doc: str) -> None:
    text = PAGES[doc]
    blocks = [block for block in BLOCKS if block.doc == doc]
    fences = [line for line in text.splitlines() if line.startswith("```")]
    assert len(fences) == 2 * len(blocks)
    hints = re.findall(r"<!--\s*\w+-test:", text)
    assert len(hints) == sum(1 for block in blocks if block.hints), (
        f"{doc}: a hint not right before a block"
    )


def test_every_kind_of_block_is_there() -> None:
    assert {"python", "yaml", "sh", "console", "text"} <= {block.info for block in BLOCKS}
    assert set(QUICKSTARTS) == {"README.md", "docs/tutorial.md"}


def test_the_first_two_shell_commands_are_what_ci_runs() -> None:
    readme = [block for block in BLOCKS if block.doc == "README.md"]
    first = [block for block in readme if block.info in ("sh", "console")][:2]
    assert [block.text.strip() for block in first] == SETUP
    for command in SHELL_COMMANDS[:2]:
        check_setup_command(command)


def test_the_readme_quickstart_is_the_tutorials_beginning() -> None:
    """The README's five minutes are the tutorial's first steps, word for word."""
    short, whole = QUICKSTARTS["README.md"], QUICKSTARTS["docs/tutorial.md"]
    assert len(short) >= 4 and len(whole) > len(short)
    assert [(b.info, b.text, b.hints) for b in short] == [
        (b.info, b.text, b.hints) for b in whole[: len(short)]
    ]


@pytest.mark.parametrize("doc", list(QUICKSTARTS))
def test_quickstart(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, doc: str) -> None:
    """A quickstart, played in order: write, record, replay offline; the tutorial's goes on:
    change the prompt, see the gate fail, re-record, review the snapshot diff, accept."""
    clean_environment(monkeypatch)
    quickstart = QUICKSTARTS[doc]
    assert [block.info for block in quickstart][:2] == ["python", "sh"]
    readme_env: dict[str, str] = {}
    readme_port: str | None = None
    server: RunningServer | None = None
    last_port = "9"
    files: dict[str, str] = {}
    ran: list[str] = []
    try:
        for block in quickstart:
            if "offline" in block.hints and server is not None:
                server.stop()
                server = None
            if block.info == "python":
                files[block.hints["file"]] = block.text
                pytester.path.joinpath(block.hints["file"]).write_text(block.text)
            elif block.info == "diff":
                (name, source), *_ = files.items()
                files[name] = apply_diff(source, block.text)
                pytester.path.joinpath(name).write_text(files[name])
            elif block.info in ("sh", "console"):
                for command in commands(block):
                    if command.kind == "testing":
                        if server is not None:
                            server.stop()
                        readme_port = command.argv[command.argv.index("--port") + 1]
                        server = start_reference_server(command)
                        last_port = server.host_port.rsplit(":", 1)[1]
                    elif command.kind == "export":
                        name, _, value = command.argv[1].partition("=")
                        readme_env[name] = value
                    elif command.kind == "pytest":
                        assert command.expected, f"{block.where()}: show what the run prints"
                        for name, value in {**readme_env, **command.env}.items():
                            if readme_port is not None:
                                value = value.replace(f":{readme_port}/", f":{last_port}/")
                            monkeypatch.setenv(name, value)
                        result = pytester.runpytest(*command.pytest_args())
                        match_output(result, command.expected, block.where())
                        ran.append(command.text)
                    else:
                        pytest.fail(f"{block.where()}: the quickstart cannot run `{command.text}`")
            else:
                pytest.fail(f"{block.where()}: no quickstart step for ```{block.info}")
            if block is quickstart[2]:
                # The files step 2 says the first run wrote.
                for path in re.findall(
                    r"`(__(?:recordings|snapshots)__/[^`]+)`", section("Quickstart", doc)
                ):
                    assert (pytester.path / path).is_file(), f"the quickstart's {path} is missing"
    finally:
        if server is not None:
            server.stop()
    (recording,) = pytester.path.glob("__recordings__/*/*.yaml")
    interactions = yaml.safe_load(recording.read_text())["interactions"]
    assert len(interactions) == 2
    if not any(block.info == "diff" for block in quickstart):
        assert len(ran) >= 2  # record, replay
        return
    assert len(ran) >= 5  # record, replay, the gate, re-record, accept
    # Accepting dropped the stale entries: the recording holds the new prompt's answers only.
    assert all("warmly" in str(entry["request"]) for entry in interactions)


OPTIONS = "docs/reference/options.md"


def test_the_options_table_lists_every_option_and_ini_setting(pytester: pytest.Pytester) -> None:
    plugin = registered(pytester)
    rows = table_rows(section("Options and ini settings", OPTIONS))
    assert rows, "no options table"
    options: dict[str, str | None] = {}
    ini: set[str] = set()
    config = pytester.parseconfigure()
    for option_cell, ini_cell, default, meaning in rows:
        assert meaning
        option = code_spans(option_cell)[0] if code_spans(option_cell) else None
        setting = code_spans(ini_cell)[0] if code_spans(ini_cell) else None
        default_value = code_spans(default)[0] if code_spans(default) else default
        if option is not None:
            name, _, metavar = option.partition(" ")
            options[name] = metavar or None
            dest = name.removeprefix("--").replace("-", "_")
            if setting is not None:
                assert setting == dest, f"{option} and {setting} do not go together"
            else:
                value = config.getoption(dest)
                assert default_value == {False: "off", None: NO_DEFAULT}[value], (
                    f"default of {option}"
                )
        if setting is not None:
            ini.add(setting)
            value = config.getini(setting)
            shown = value if value not in ("", []) else NO_DEFAULT
            if value is False:  # a flag's ini setting (chatexp_batch), shown as its option's
                shown = "off"
            assert default_value == shown, (
                f"default of {setting}: {OPTIONS} {default}, plugin {value!r}"
            )
    assert options == plugin.options, f"{OPTIONS}'s option table and `pytest --help` differ"
    assert ini == plugin.ini, f"{OPTIONS}'s ini settings and `pytest --help` differ"


def test_the_marker_table_lists_every_argument() -> None:
    rows = table_rows(section("Arguments", "docs/reference/markers.md"))
    documented = {code_spans(row[0])[0] for row in rows}
    assert documented == set(ExperimentOptions.model_fields)


def test_the_fixture_table_lists_every_fixture(pytester: pytest.Pytester) -> None:
    rows = table_rows(section("Fixtures", "docs/reference/fixtures.md"))
    documented = {code_spans(row[0])[0]: row[1] for row in rows}
    scopes = {"function": "test", "session": "session"}
    assert documented == {
        name: scopes[scope] for name, scope in registered(pytester).fixtures.items()
    }


def test_every_public_check_is_documented() -> None:
    text = section("Checks by kind", "docs/reference/checks.md")
    missing = [
        name
        for name in checks.__all__
        if not re.search(rf"`{re.escape(name)}[`(]|[\s(,`]{re.escape(name)}\(", text)
    ]
    assert not missing, f"checks not in the checks reference's table: {missing}"


def test_the_guarantees_name_tests_that_exist() -> None:
    rows = table_rows(section("Guarantees", "docs/reference/guarantees.md"))
    assert len(rows) >= 10
    for promise, proof in rows:
        current: Path | None = None
        for reference in code_spans(proof):
            path, _, name = reference.partition("::")
            if path:
                current = ROOT / path
                assert current.is_file(), f"{promise}: no {path}"
            assert current is not None
            if name:
                assert re.search(
                    rf"^(async )?def {re.escape(name)}\(", current.read_text(), re.M
                ), f"{promise}: no test {name} in {current.relative_to(ROOT)}"


@pytest.mark.parametrize("doc", list(PAGES))
def test_links_and_paths_exist(doc: str) -> None:
    """Relative links reach a file (and its heading); a page of the site links only within
    the site, so that it works on GitHub and as built by MkDocs alike."""
    text = PAGES[doc]
    here = (ROOT / doc).parent
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith("http"):
            continue
        path, _, anchor = target.partition("#")
        destination = (here / path).resolve() if path else ROOT / doc
        assert destination.exists(), f"{doc} links to {target}, which is missing"
        if doc.startswith("docs/"):
            assert destination.is_relative_to(DOCS), (
                f"{doc} links to {target}, outside the site: name the path in `code` instead"
            )
        if anchor:
            assert destination.suffix == ".md", f"{doc}: an anchor into {target}"
            assert anchor in anchors(destination.read_text(encoding="utf-8")), (
                f"{doc}: no heading for the link {target}"
            )
    for path in re.findall(r"`((?:examples|tests|bench|pytest_chatexp)/[\w/.\-]+)`", text):
        assert (ROOT / path.split("::")[0]).exists(), f"{doc} names {path}, which is missing"


def test_the_readme_links_into_every_part_of_the_site() -> None:
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for target in re.findall(r"\]\((docs/[^)\s]+)\)", README_TEXT)
    }
    for part in ("tutorial.md", "how-to", "reference", "explanation"):
        assert any(path.is_relative_to(DOCS / part) for path in linked), f"no link to docs/{part}"


def test_the_sections_other_work_relies_on() -> None:
    for heading, doc in (
        ("Quickstart", "README.md"),
        ("Quickstart", "docs/tutorial.md"),
        ("Performance", "docs/explanation/performance.md"),
        ("Guarantees", "docs/reference/guarantees.md"),
        ("Record against a local model", "docs/how-to/local-models.md"),
        ("How it compares", "docs/explanation/comparison.md"),
    ):
        section(heading, doc)
    performance = section("Performance", "docs/explanation/performance.md")
    assert "bench/README.md" in performance
    assert table_rows(performance), "the benchmark numbers"
    for tool in ("promptfoo", "DeepEval", "LangSmith", "Humanloop"):
        assert tool in section("How it compares", "docs/explanation/comparison.md")
