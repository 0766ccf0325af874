"""Reading the files users keep next to their tests: bounded in size, and YAML without tricks.

Every YAML file the plugin reads (recordings, prompt files, datasets) goes through ``load_yaml``,
which refuses what would let a small file cost unbounded time or memory, or hide an edit:

- anchors and aliases: ten nested aliases of ten items expand to ten billion values (a 3 KB
  "billion laughs" file exhausts memory), and an alias makes a reviewer look elsewhere;
- merge keys (``<<``), which only exist to be used with aliases;
- a key given twice in one mapping, which YAML readers resolve silently (the last one wins), so
  a hand edit could replace a recorded answer or a prompt without anyone noticing.

Files are read with ``read_bounded``: anything larger than ``MAX_FILE_BYTES`` is refused before
it is read whole. PyYAML is imported on first use, so a run without chatexp tests never loads it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    import yaml

__all__ = ["MAX_FILE_BYTES", "FileTooLarge", "YamlProblem", "load_yaml", "read_bounded"]

# Far above any prompt file, dataset or recording a repository holds (a recording of 10,000
# calls is about 20 MB), far below what would take a CI machine's memory.
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class FileTooLarge(Exception):
    """The file is larger than ``MAX_FILE_BYTES``; the message says so in words."""


class YamlProblem(Exception):
    """YAML we do not accept: ``problem``, at ``line`` and ``column`` (from 1) when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.line, self.column = problem, line, column

    @property
    def where(self) -> str:
        """`` at line L, column C`` (or only the line, or nothing), for a message."""
        if self.line is None:
            return ""
        column = f", column {self.column}" if self.column is not None else ""
        return f" at line {self.line}{column}"


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``; FileTooLarge past ``limit``, OSError as ``open`` raises it."""
    with path.open("rb") as stream:
        # Asking for ``limit + 1`` bytes at once would allocate that much (64 MiB) for every
        # small file, about 0.1 ms each: ask for what the file holds, then (a file still being
        # written, or one whose size says nothing, as in /proc) for the rest up to the limit.
        size = os.fstat(stream.fileno()).st_size
        data = stream.read(min(size, limit) + 1)
        if len(data) > size and len(data) <= limit:
            data += stream.read(limit + 1 - len(data))
    if len(data) > limit:
        raise FileTooLarge(f"it is larger than {limit // (1024 * 1024)} MiB, the most read")
    return data


def load_yaml(text: str) -> Any:
    """The data of ``text`` as a safe loader builds it; YamlProblem for anything refused above,
    for invalid YAML, and for values no loader can build (a date like 2024-02-30)."""
    import yaml

    try:
        if "&" in text or "*" in text:  # no anchor or alias can be written without them
            _refuse_anchors(text)
        return yaml.load(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        raise _at(problem, mark) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(" ".join(str(exc).split())) from None
    except RecursionError:
        raise YamlProblem("the data is nested too deeply") from None
    except (ValueError, KeyError, IndexError, AttributeError, TypeError, OverflowError) as exc:
        # PyYAML raises plain errors for values it cannot build ("!!float x", 2024-02-30).
        raise YamlProblem(f"a value cannot be read ({type(exc).__name__}: {exc})") from None


def _refuse_anchors(text: str) -> None:
    import yaml

    # Events come from the C parser when there is one, without building any data.
    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, yaml.AliasEvent):
            raise _at(
                f"the alias *{event.anchor} is not allowed (write the value out in full)",
                event.start_mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            problem = f"the anchor &{anchor} is not allowed (aliases are refused)"
            raise _at(problem, event.start_mark)


class _Mark(Protocol):  # PyYAML's Python and C marks
    line: int
    column: int


def _at(problem: str, mark: _Mark | None) -> YamlProblem:
    if mark is None:
        return YamlProblem(problem)
    return YamlProblem(problem, mark.line + 1, mark.column + 1)


@functools.cache
def _loader() -> type[yaml.SafeLoader]:
    """PyYAML's safe loader (the C one when built) refusing merge keys and repeated keys."""
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    raise _at("merge keys (<<) are not allowed", key_node.start_mark)
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            if len(mapping) != len(node.value):
                _refuse_repeated_key(self, node)
            return mapping

    return Loader


def _refuse_repeated_key(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)  # built already: a cache lookup
        line = key_node.start_mark.line + 1
        if key in first_line:
            raise YamlProblem(
                f"the key {key!r} is repeated (first at line {first_line[key]}): a YAML reader "
                "would keep only the last value",
                line,
                key_node.start_mark.column + 1,
            )
        first_line[key] = line
