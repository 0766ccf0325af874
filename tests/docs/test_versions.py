"""The versions users install: the ini settings in pytest 9's native TOML table and in a classic
ini file, models that load under the lowest pydantic declared, and a CI that tests the declared
floors and the newest versions on the lowest and highest Python supported."""

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

import pytest_chatexp
from pytest_chatexp.testing import ReferenceServer
from tests._suite import assert_clean

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# Every numeric setting, in the native table as TOML numbers and in an ini file as text.
NUMBERS = """chatexp_concurrency = 2
chatexp_timeout = 30
chatexp_retries = 0
chatexp_backoff = 0.25
chatexp_deadline = 120
chatexp_max_tokens = 100000
chatexp_max_cost = 2.5
"""
NATIVE = f"""
[tool.pytest]
{NUMBERS}chatexp_record = "off"
chatexp_prices = ["m 1 2"]
"""
CLASSIC = f"""
[pytest]
{NUMBERS}chatexp_record = off
chatexp_prices = m 1 2
"""
NEEDS_NATIVE_TABLE = pytest.mark.skipif(
    pytest.version_tuple < (9,), reason="pytest reads a native [tool.pytest] table from 9.0"
)

SETTINGS_TEST = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp._session._settings import Settings


def test_the_settings_are_read(request):
    settings = Settings.from_config(request.config)
    assert settings.concurrency == 2 and settings.retries == 0
    assert settings.timeout == 30.0 and settings.backoff == 0.25 and settings.deadline == 120.0
    assert settings.max_tokens == 100000 and settings.max_cost == 2.5
    assert settings.prices.price_of("m") is not None


@pytest.mark.chatexp(
    model_configs=ModelConfig(model="m", chat_template=[{"role": "user", "content": "{{n}}"}]),
    inputs=[{"n": n} for n in range(8)],
    concurrency=8,
)
def test_many(chatexp):
    assert len(chatexp.samples) == 8
"""


def write_settings(pytester: pytest.Pytester, kind: str, text: str) -> None:
    if kind == "native":
        pytester.makepyprojecttoml(text)
    else:
        pytester.makeini(text)


@pytest.mark.parametrize(
    "kind, text",
    [
        pytest.param("native", NATIVE, id="tool.pytest", marks=NEEDS_NATIVE_TABLE),
        pytest.param("classic", CLASSIC, id="pytest.ini"),
    ],
)
def test_numeric_settings_are_read_from_either_config_file(
    pytester: pytest.Pytester, server: ReferenceServer, kind: str, text: str
) -> None:
    server.latency = 0.05
    write_settings(pytester, kind, text)
    pytester.makepyfile(test_settings=SETTINGS_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert len(server.requests) == 8
    assert 1 <= server.max_in_flight <= 2  # chatexp_concurrency caps the marker's 8


@pytest.mark.parametrize(
    "kind, line, message",
    [
        pytest.param(
            "native",
            "chatexp_concurrency = 0",
            "ERROR: chatexp: ini option chatexp_concurrency must be a whole number >= 1, got '0'",
            marks=NEEDS_NATIVE_TABLE,
        ),
        pytest.param(
            "native",
            'chatexp_timeout = "soon"',
            # pytest 9.0 and 9.1 refuse the text themselves: their words follow.
            "ERROR: chatexp: ini option chatexp_timeout must be a number of seconds > 0*got*'soon'",
            marks=NEEDS_NATIVE_TABLE,
        ),
        pytest.param(
            "native",
            "chatexp_retries = true",
            "ERROR: chatexp: ini option chatexp_retries must be a whole number >= 0: *",
            marks=NEEDS_NATIVE_TABLE,
        ),
        pytest.param(
            "classic",
            "chatexp_max_tokens = lots",
            "ERROR: chatexp: ini option chatexp_max_tokens must be a whole number of tokens > 0*",
        ),
    ],
)
def test_a_bad_numeric_setting_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, kind: str, line: str, message: str
) -> None:
    write_settings(pytester, kind, ("[tool.pytest]\n" if kind == "native" else "[pytest]\n") + line)
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert_clean(result)


# -- the lowest pydantic declared ---------------------------------------------------------------------


def plugin_models() -> list[type[BaseModel]]:
    for module in pkgutil.walk_packages(pytest_chatexp.__path__, "pytest_chatexp."):
        importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("pytest_chatexp."):
            found.append(model)
    return found


def test_models_with_model_prefixed_fields_do_not_reserve_that_prefix() -> None:
    """pydantic < 2.10 warns at class creation on a field starting ``model_`` unless the model
    gives up its protected namespaces; under ``filterwarnings = error`` that warning is a
    collection error of every chatexp test."""
    models = plugin_models()
    assert len(models) >= 10
    offending = [
        f"{model.__module__}.{model.__qualname__}.{name}"
        for model in models
        for name in model.model_fields
        if name.startswith("model_") and model.model_config.get("protected_namespaces") != ()
    ]
    assert not offending


# -- CI tests what pyproject.toml declares ------------------------------------------------------------


def test_ci_runs_the_floors_and_the_newest_on_the_lowest_and_highest_python() -> None:
    project = PYPROJECT["project"]
    lowest = project["requires-python"].removeprefix(">=")
    listed = [
        classifier.rsplit(" :: ", 1)[1]
        for classifier in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
    ]
    highest = max(listed, key=lambda version: tuple(map(int, version.split("."))))
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"for version in {lowest} {highest}; do" in script
    assert "for versions in newest lowest; do" in script
    assert '"$uv" pip install --quiet --resolution lowest-direct -e ".[test]"' in script
    # The docs' CI guide says so (its CI section, before sharding).
    guide = (ROOT / "docs" / "how-to" / "ci.md").read_text(encoding="utf-8")
    ci = guide.split("\n## CI\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    for words in (f"Python {lowest}", f"Python {highest}", "--resolution lowest-direct"):
        assert words in ci
    # The docs build runs at the lowest declared versions too: its packages have floors.
    test_extra = project["optional-dependencies"]["test"]
    for package in ("mkdocs", "mkdocs-material", "mkdocstrings", "mkdocstrings-python"):
        assert any(re.fullmatch(rf"{package}>=[\d.]+", dep) for dep in test_extra), package
