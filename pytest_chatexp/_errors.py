"""The exceptions pytest-chatexp raises, in one tree.

    ChatexpError                 -- catch this to catch everything below
    ├── InvalidExperimentError   -- the experiment as declared cannot run (marker, config, options)
    │   ├── TemplateError        -- a {{placeholder}} has no value, or a template is malformed
    │   └── DatasetError         -- a prompt or dataset file cannot be read
    └── ProviderError            -- a provider call failed (HTTP status, timeout, unreadable body)

Every message is written for the person running pytest: it names the test, the file or the field,
says what was expected and, where there is one, the fix. The plugin prints these messages as they
are, without a traceback, so they must stand on their own.
"""

from __future__ import annotations

__all__ = [
    "ChatexpError",
    "DatasetError",
    "InvalidExperimentError",
    "ProviderError",
    "TemplateError",
]


class ChatexpError(Exception):
    """Base class of every error raised by pytest-chatexp."""


class InvalidExperimentError(ChatexpError):
    """The experiment a test declares is invalid: a bad marker argument, model config or option."""


class TemplateError(InvalidExperimentError):
    """A chat template cannot be rendered, most often because an input variable is missing."""


class DatasetError(InvalidExperimentError):
    """A prompt file or dataset file is missing, unreadable or malformed."""


class ProviderError(ChatexpError):
    """A call to a model provider failed.

    ``status_code`` is the HTTP status when the provider answered, ``None`` when it did not
    (timeout, connection refused) or answered with a body that could not be understood.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
