"""The public surface as users meet it: what the packages export, what a type checker sees, and
what a source distribution ships."""

import ast
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

import pytest_chatexp
from pytest_chatexp import ModelConfig, checks

ROOT = Path(__file__).resolve().parents[2]


def public_names(module: object) -> list[str]:
    # Not "@py_builtins": pytest rewrites the plugin's assertions, and names them so.
    return sorted(name for name in dir(module) if name.isidentifier() and name[0] != "_")


@pytest.mark.parametrize("module", [pytest_chatexp, checks], ids=["pytest_chatexp", "checks"])
def test_each_package_shows_exactly_its_all(module: object) -> None:
    exported = list(module.__all__)  # type: ignore[attr-defined]
    assert "annotations" not in exported
    assert public_names(module) == sorted(name for name in exported if not name.startswith("_"))
    for name in exported:
        getattr(module, name)  # every name resolves
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)  # type: ignore[attr-defined]
    assert "annotations" not in namespace


def test_the_chatexp_runner_fixture_is_typed_by_an_export(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_chatexp import ChatexpRunner

        def test_runner(chatexp_runner: ChatexpRunner):
            assert type(chatexp_runner) is ChatexpRunner
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


USER_MODULE = """
import pytest
from pytest_chatexp import ModelConfig

GOOD = ModelConfig(
    name="support-v1",
    model="gpt-4o-mini",
    temperature=0.2,
    max_tokens=200,
    stop=["END"],
    chat_template=[{"role": "system", "content": "You help with {{topic}}."}],
    tools=[{"name": "lookup", "parameters": {"type": "object", "properties": {}}}],
    tool_choice="auto",
    response_format={"type": "json_object"},
    other={"user": "ci"},
)
VARIANT = GOOD.variant(temperature=0.9)
TYPO = ModelConfig(model="gpt-4o-mini", temprature=0.2)
"""


def test_a_misspelt_model_config_field_is_a_type_error(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_MODULE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in done.stdout.splitlines() if ": error: " in line]
    lines = USER_MODULE.splitlines()
    typo_line = lines.index('TYPO = ModelConfig(model="gpt-4o-mini", temprature=0.2)') + 1
    assert len(errors) == 1, done.stdout + done.stderr  # the dicts a test module writes are fine
    assert errors[0].startswith(f"test_user.py:{typo_line}: error: ")
    assert 'Unexpected keyword argument "temprature"' in errors[0]


def checker_parameters() -> dict[str, object]:
    """The keyword parameters of the ``__init__`` type checkers see on ModelConfig, with their
    defaults (``...``: one the model computes)."""
    source = ast.parse(
        (ROOT / "pytest_chatexp" / "_experiment" / "_config.py").read_text(encoding="utf-8")
    )
    model = next(
        node
        for node in source.body
        if isinstance(node, ast.ClassDef) and node.name == "ModelConfig"
    )
    guard = next(
        node
        for node in model.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    init = next(node for node in guard.body if isinstance(node, ast.FunctionDef))
    assert init.name == "__init__" and not init.args.args[1:] and init.args.kwarg is None
    return {
        arg.arg: "required" if default is None else ast.literal_eval(default)
        for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True)
    }


def test_the_checked_signature_names_every_field_with_its_default() -> None:
    expected: dict[str, object] = {}
    for name, field in ModelConfig.model_fields.items():
        if field.is_required():
            expected[name] = "required"
        elif field.default_factory is not None:
            expected[name] = ...
        else:
            expected[name] = field.default
    assert checker_parameters() == expected


# -- what ships ---------------------------------------------------------------------------------------

JUNK = [
    ".hypothesis/examples/0a1b/2c3d",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/x.json",
    ".venv-ci/bin/python",
    "tests/__pycache__/test_x.cpython-311.pyc",
    ".chatexp-report.html",
    "examples/__recordings__/test_x/.test_x.yaml.lock",
    "examples/__recordings__/test_x/.test_x.yaml.tmp-1234",
    "dist/pytest_chatexp-0.0.1.tar.gz",
]


def test_the_sdist_ships_the_license_and_no_junk(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(".git", ".venv*", ".*cache", ".hypothesis", "__pycache__"),
    )
    for junk in JUNK:
        (checkout / junk).parent.mkdir(parents=True, exist_ok=True)
        (checkout / junk).write_text("junk")
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path / "out")],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (sdist,) = (tmp_path / "out").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", "pytest_chatexp/py.typed"} <= names
    assert "tests/docs/test_public_api.py" in names
    shipped_junk = [name for name in names if any(name.startswith(junk) for junk in JUNK)]
    assert not shipped_junk
    assert not [name for name in names if name.startswith(".") and name != ".gitignore"]


def test_the_license_is_the_one_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    urls = project["urls"]
    assert {"Homepage", "Documentation"} <= set(urls)
    assert all(url.startswith("https://pypi.org/project/pytest-chatexp/") for url in urls.values())
