"""pytest-chatexp: regression-test LLM prompts and model configs with pytest.

The public API is re-exported here. It loads lazily (PEP 562): pytest imports this package in
every run through the plugin entry point, and a run without chatexp tests must not pay for
pydantic or httpx.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._calls._app import AppCall as AppCall
    from ._calls._app import AppReply as AppReply
    from ._calls._recorder import RecordingMissError as RecordingMissError
    from ._calls._runner import ExperimentRunner as ExperimentRunner
    from ._errors import (
        BudgetExhausted as BudgetExhausted,
    )
    from ._errors import (
        ChatexpError as ChatexpError,
    )
    from ._errors import (
        CorruptRecordingError as CorruptRecordingError,
    )
    from ._errors import (
        DatasetError as DatasetError,
    )
    from ._errors import (
        InvalidExperimentError as InvalidExperimentError,
    )
    from ._errors import (
        PricingError as PricingError,
    )
    from ._errors import (
        ProviderError as ProviderError,
    )
    from ._errors import (
        RecordingError as RecordingError,
    )
    from ._errors import (
        SecretInRecordingError as SecretInRecordingError,
    )
    from ._errors import (
        TemplateError as TemplateError,
    )
    from ._errors import (
        ToolError as ToolError,
    )
    from ._experiment._agents import SimulatedUser as SimulatedUser
    from ._experiment._config import ModelConfig as ModelConfig
    from ._experiment._config import Reasoning as Reasoning
    from ._experiment._config import Tool as Tool
    from ._experiment._files import load_dataset as load_dataset
    from ._experiment._files import load_model_configs as load_model_configs
    from ._experiment._humanloop import (
        ChatDataResponse as ChatDataResponse,
    )
    from ._experiment._humanloop import (
        ChatMessage as ChatMessage,
    )
    from ._experiment._humanloop import (
        ChatResponse as ChatResponse,
    )
    from ._experiment._humanloop import (
        FunctionTool as FunctionTool,
    )
    from ._experiment._humanloop import (
        ToolCall as ToolCall,
    )
    from ._experiment._humanloop import (
        ToolChoice as ToolChoice,
    )
    from ._experiment._humanloop import (
        Usage as Usage,
    )
    from ._experiment._inputs import Input as Input
    from ._experiment._result import Case as Case
    from ._experiment._result import ExperimentResult as ExperimentResult
    from ._experiment._result import Sample as Sample
    from ._experiment._result import ToolResult as ToolResult
    from ._experiment._result import Turn as Turn
    from ._experiment._spec import ExperimentSpec as ExperimentSpec
    from ._experiment._subsample import subsample as subsample
    from ._session._options import ExperimentOptions as ExperimentOptions
    from ._session._session import ChatexpRunner as ChatexpRunner

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ModelConfig": "._experiment._config",
    "Reasoning": "._experiment._config",
    "Tool": "._experiment._config",
    "load_model_configs": "._experiment._files",
    "Input": "._experiment._inputs",
    "load_dataset": "._experiment._files",
    "subsample": "._experiment._subsample",
    "ExperimentOptions": "._session._options",
    "ExperimentSpec": "._experiment._spec",
    "ExperimentResult": "._experiment._result",
    "Case": "._experiment._result",
    "Sample": "._experiment._result",
    "Turn": "._experiment._result",
    "ToolResult": "._experiment._result",
    "SimulatedUser": "._experiment._agents",
    "ExperimentRunner": "._calls._runner",
    "ChatexpRunner": "._session._session",
    "AppCall": "._calls._app",
    "AppReply": "._calls._app",
    "ChatResponse": "._experiment._humanloop",
    "ChatDataResponse": "._experiment._humanloop",
    "ChatMessage": "._experiment._humanloop",
    "ToolCall": "._experiment._humanloop",
    "FunctionTool": "._experiment._humanloop",
    "ToolChoice": "._experiment._humanloop",
    "Usage": "._experiment._humanloop",
    "ChatexpError": "._errors",
    "InvalidExperimentError": "._errors",
    "TemplateError": "._errors",
    "DatasetError": "._errors",
    "ProviderError": "._errors",
    "PricingError": "._errors",
    "RecordingError": "._errors",
    "CorruptRecordingError": "._errors",
    "SecretInRecordingError": "._errors",
    "BudgetExhausted": "._errors",
    "ToolError": "._errors",
    "RecordingMissError": "._calls._recorder",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_chatexp' has no attribute {name!r}")
    # Not cached in this module's globals: when a module is imported again (pytester's inline
    # runs drop the modules a run imported), a cached class would be the old one, and an
    # isinstance check by the newly imported plugin code would fail on it.
    return getattr(importlib.import_module(module_name, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
