"""App targets by name: a config whose target is your own code names it ``module:qualname``,
the name its model config is fingerprinted by and the calls layer finds the function by."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

from .._errors import InvalidExperimentError

__all__ = ["APP_PROVIDER", "register_app", "resolve_app", "target_name"]

# The provider name of a config whose target is your own code (``ModelConfig.for_app``).
APP_PROVIDER: Final = "python"

# Functions registered by ``ModelConfig.for_app``: found even when not importable by name
# (defined inside a test function, say).
_APPS: dict[str, Callable[..., Any]] = {}


def target_name(function: Callable[..., Any]) -> str:
    """``module:qualname``: the stable name an app is fingerprinted and found by."""
    return f"{function.__module__}:{function.__qualname__}"


def register_app(function: Callable[..., Any]) -> str:
    name = target_name(function)
    _APPS[name] = function
    return name


def resolve_app(name: str) -> Callable[..., Any]:
    """The app a config names: registered, or imported from ``module:qualname``."""
    if name in _APPS:
        return _APPS[name]
    module_name, _, attribute = name.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError):
        raise InvalidExperimentError(
            f"app target '{name}' cannot be imported; build the config with "
            "ModelConfig.for_app(function) or name an importable 'module:function'"
        ) from None
    if not callable(target):
        raise InvalidExperimentError(f"app target '{name}' is not callable")
    return target  # type: ignore[no-any-return]
