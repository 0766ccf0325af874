"""The exceptions pytest-chatexp raises, in one tree.

    ChatexpError                     -- catch this to catch everything below
    ├── InvalidExperimentError       -- the experiment as declared cannot run
    │   ├── TemplateError            -- a {{placeholder}} has no value, or a bad placeholder
    │   ├── DatasetError             -- a prompt or dataset file cannot be read
    │   └── PricingError             -- a price table line is wrong, or a model has no price
    ├── ProviderError                -- a provider call failed (status, timeout, unreadable body),
    │                                   after its retries
    ├── RecordingError               -- a recording cannot be read, written or used
    │   ├── CorruptRecordingError    -- the file is not a valid recording
    │   ├── SecretInRecordingError   -- writing it was refused: it would contain a credential
    │   └── RecordingMissError       -- no recorded answer, and the record mode forbids calling
    │                                   (defined with its Miss records in ``_calls/_misses``)
    ├── ToolError                    -- a tool handler's result cannot be sent to the model
    └── BudgetExhausted              -- the session's token or cost budget is spent

Every message is written for the person running pytest: it names the test, the file or the field,
says what was expected and, where there is one, the fix. The plugin prints these messages as they
are, without a traceback, so they must stand on their own.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BudgetExhausted",
    "ChatexpError",
    "CorruptRecordingError",
    "DatasetError",
    "InvalidExperimentError",
    "PricingError",
    "ProviderError",
    "RecordingError",
    "SecretInRecordingError",
    "TemplateError",
    "ToolError",
]

# The most an answer may decode to before reading stops with a ProviderError. Here, not with the
# runner, because the settings read it at configure in every pytest run, and this leaf is all
# that run loads besides them. Generous for any chat answer (a 100k-token stream, at ~250
# bytes an event, is the rare one past it): the bound is against hostile or broken servers,
# whose answers otherwise grow without end (a 4 MB gzip bomb inflates to 4 GB).
DEFAULT_MAX_RESPONSE_BYTES = 16 * 2**20


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


class PricingError(InvalidExperimentError, ValueError):
    """A price table line that cannot be read, or a model without a price."""


class RecordingError(ChatexpError):
    """A recording file cannot be read or written."""


class CorruptRecordingError(RecordingError):
    """A recording file exists but is not a valid recording (bad YAML, shape or version)."""


class SecretInRecordingError(RecordingError):
    """Writing a recording was refused because its text would contain a credential."""


class ToolError(ChatexpError):
    """A tool handler returned what cannot be sent back to the model (not text, not JSON).

    A handler that raises is not this: its exception becomes the tool's error result, which
    the model reads, as an agent framework would send it.
    """


class BudgetExhausted(ChatexpError):
    """The session's token or cost budget is spent: no further live call is made."""

    takes_precedence = True  # over the failures of the calls it stopped
