"""pytest-chatexp: regression-test LLM prompts and model configs with pytest.

The public API is re-exported here. It loads lazily (PEP 562): pytest imports this package in
every run through the plugin entry point, and a run without chatexp tests must not pay for
pydantic or httpx.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._configs import ModelConfig as ModelConfig
    from ._configs import Tool as Tool
    from ._configs import load_model_configs as load_model_configs
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
    from ._experiment import Case as Case
    from ._experiment import ExperimentResult as ExperimentResult
    from ._experiment import ExperimentSpec as ExperimentSpec
    from ._experiment import Sample as Sample
    from ._inputs import Input as Input
    from ._inputs import load_dataset as load_dataset
    from ._models import (
        ChatDataResponse as ChatDataResponse,
    )
    from ._models import (
        ChatMessage as ChatMessage,
    )
    from ._models import (
        ChatResponse as ChatResponse,
    )
    from ._models import (
        FunctionTool as FunctionTool,
    )
    from ._models import (
        ToolCall as ToolCall,
    )
    from ._models import (
        ToolChoice as ToolChoice,
    )
    from ._models import (
        Usage as Usage,
    )
    from ._options import ExperimentOptions as ExperimentOptions
    from ._providers._app import AppCall as AppCall
    from ._providers._app import AppReply as AppReply
    from ._recorder import RecordingMissError as RecordingMissError
    from ._runner import ExperimentRunner as ExperimentRunner
    from ._session import ChatexpRunner as ChatexpRunner

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ModelConfig": "._configs",
    "Tool": "._configs",
    "load_model_configs": "._configs",
    "Input": "._inputs",
    "load_dataset": "._inputs",
    "ExperimentOptions": "._options",
    "ExperimentSpec": "._experiment",
    "ExperimentResult": "._experiment",
    "Case": "._experiment",
    "Sample": "._experiment",
    "ExperimentRunner": "._runner",
    "ChatexpRunner": "._session",
    "AppCall": "._providers._app",
    "AppReply": "._providers._app",
    "ChatResponse": "._models",
    "ChatDataResponse": "._models",
    "ChatMessage": "._models",
    "ToolCall": "._models",
    "FunctionTool": "._models",
    "ToolChoice": "._models",
    "Usage": "._models",
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
    "RecordingMissError": "._recorder",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_chatexp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
