"""A fast reader for the block YAML that recordings are written in, with PyYAML as the referee.

Replaying a test reads its recording, and PyYAML builds every node of it in Python: about
0.3-0.6 ms for a small file, most of what a replayed test costs over a plain one. Recordings are
written by our own dumper (``_store._Dumper``: block style, two-space indents, no line folding,
literal blocks for multi-line strings), so they use a small, regular part of YAML. ``load`` reads
exactly that part, line by line, about ten times faster.

It is a fast path, never a second YAML dialect: anything outside the subset it is sure of (tabs,
flow collections, anchors, tags, folded or multi-line quoted scalars, odd indentation, a
scalar PyYAML would resolve to a timestamp or an octal, ...) raises ``NotInSubset`` and the caller
hands the text to PyYAML, which also reports every syntax error. The property tests check that
whenever ``load`` answers, PyYAML's safe loader gives the same data.
"""

from __future__ import annotations

import re
from typing import Any, Final

from yaml.resolver import Resolver

__all__ = ["NotInSubset", "load"]


class NotInSubset(Exception):
    """The text uses YAML this reader does not handle; PyYAML must read it."""


# A plain scalar starting with one of these is an indicator, not text (or a form we skip).
_INDICATORS: Final = frozenset("[]{}#&*!|>'\"%@`,")
# These three are indicators only before a space or at the end: "-1" and "-x" are plain.
_SPACED_INDICATORS: Final = frozenset("-?:")
_INT: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS: Final = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}
_BOOLS: Final = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_ESCAPES: Final = {
    "0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "n": "\n", "v": "\x0b", "f": "\x0c",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}
_ESCAPE: Final = re.compile(r"\\(?:([xuU])([0-9A-Fa-f]*)|(.)|$)")
_RESOLVERS: Final = Resolver.yaml_implicit_resolvers
# Keys and short values repeat across every recording of a session (role, content, stop, ...).
_PLAIN_CACHE: Final[dict[str, Any]] = {}
_PLAIN_CACHE_SIZE: Final = 4096


def load(text: str) -> Any:
    """The data of ``text``, as ``yaml.safe_load`` would build it; NotInSubset otherwise."""
    # str.isprintable() is False for every character PyYAML rejects, and for those that would
    # make splitting on "\n" differ from YAML's lines (tabs, CR, NEL, LS, PS, a BOM); it also
    # refuses a few that YAML allows (non-breaking spaces, ...), which PyYAML then reads.
    if not text.endswith("\n") or not text.replace("\n", " ").isprintable():
        raise NotInSubset
    if "\n---" in text or "\n..." in text:
        raise NotInSubset  # "--- " or "... " at the start of a line ends the document
    lines = text.split("\n")
    lines.pop()  # the empty remainder after the final line break
    parser = _Parser(lines)
    start = parser.skip_blank(0)
    if start == len(lines):
        return None
    first = lines[start]
    if first[:1] == " " or first.startswith(("---", "...", "%")):
        raise NotInSubset
    parser.index = start
    value = parser.node(0)
    if parser.skip_blank(parser.index) != len(lines):
        raise NotInSubset
    return value


class _Parser:
    """A recursive descent over lines; ``index`` is the next line to read.

    The loops are written out by hand (no helper per line): this is the hot path of a replay.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.index = 0

    def skip_blank(self, index: int) -> int:
        lines = self.lines
        while index < len(lines):
            stripped = lines[index].lstrip(" ")
            if stripped and stripped[0] != "#":
                break
            index += 1
        return index

    def node(self, indent: int) -> Any:
        """The collection starting on the current line, whose content begins at ``indent``."""
        content = self.lines[self.index][indent:]
        if content[:2] == "- " or content == "-":
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent: int) -> dict[Any, Any]:
        lines = self.lines
        count = len(lines)
        index = self.index
        result: dict[Any, Any] = {}
        while index < count:
            line = lines[index]
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                index += 1
                continue
            depth = len(line) - len(stripped)
            if depth != indent:
                if depth < indent:
                    break
                raise NotInSubset  # a continuation line, or indentation we do not write
            key, rest = _key(stripped)
            if key in result:
                raise NotInSubset  # a repeated key: the safe loader names both lines
            index += 1
            if rest:
                self.index = index
                result[key] = self.value(rest, indent)
                index = self.index
                continue
            # "key:" alone: the value is the collection on the following lines.
            index = self.skip_blank(index)
            if index == count:
                raise NotInSubset
            following = lines[index]
            depth = len(following) - len(following.lstrip(" "))
            self.index = index
            if depth == indent + 2:
                result[key] = self.node(depth)
            elif depth == indent and following[depth : depth + 2] in ("- ", "-"):
                result[key] = self.sequence(indent)  # the dumper does not indent lists in maps
            else:
                raise NotInSubset
            index = self.index
        self.index = index
        return result

    def sequence(self, indent: int) -> list[Any]:
        lines = self.lines
        count = len(lines)
        result: list[Any] = []
        index = self.index
        while index < count:
            line = lines[index]
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                index += 1
                continue
            depth = len(line) - len(stripped)
            if depth < indent or (depth == indent and stripped[:2] != "- "):
                break  # the next key of the mapping this list belongs to
            item = stripped[2:]
            if depth > indent or item[:1] in ("", " ", "#") or item[:2] == "- " or item == "-":
                # Nested lists, empty items (also "- # comment") and odd spacing go to PyYAML.
                raise NotInSubset
            self.index = index
            if _is_mapping_entry(item):
                # "- key: value" opens a mapping whose keys line up after the dash.
                lines[index] = " " * (indent + 2) + item
                result.append(self.mapping(indent + 2))
            else:
                self.index += 1
                result.append(self.value(item, indent))
            index = self.index
        self.index = index
        return result

    def value(self, token: str, indent: int) -> Any:
        """The scalar ``token`` (a mapping value or list item) on a line indented ``indent``."""
        first = token[0]
        if first == " ":
            raise NotInSubset  # the dumper writes exactly one space after "key:" or "-"
        if first == "'":
            text, rest = _single_quoted(token)
        elif first == '"':
            text, rest = _double_quoted(token)
        elif first == "|":
            return self.literal(token, indent)
        elif token == "{}":
            return {}
        elif token == "[]":
            return []
        else:
            return _plain(token)
        if rest:
            raise NotInSubset
        return text

    def literal(self, header: str, indent: int) -> str:
        """A ``|`` block: its lines are indented exactly two more than its key or dash."""
        if header not in ("|", "|-", "|+"):
            raise NotInSubset  # indentation indicators and comments after the header
        lines, block = self.lines, indent + 2
        prefix = " " * block
        body: list[str] = []
        index = self.index
        while index < len(lines):
            line = lines[index]
            if line.startswith(prefix):
                text = line[block:]
                if text and not text.strip(" "):
                    raise NotInSubset  # a line of spaces only: content or blank, by subtle rules
                body.append(text)
            elif line.strip(" "):
                break  # the next key or item
            elif len(line) > indent and body:
                raise NotInSubset  # a blank line indented between the key and the block
            else:
                body.append("")
            index += 1
        if not body or not body[0] or body[0][0] == " ":
            # Leading blank lines or spaces: PyYAML reads the indentation off the first line,
            # and the dumper writes those with an indentation indicator.
            raise NotInSubset
        self.index = index
        while not body[-1]:
            body.pop()  # trailing line breaks: dropped or kept by the chomping below
        text = "\n".join(body)
        if header == "|-":
            return text
        if header == "|":
            return text + "\n"
        raise NotInSubset  # "|+" keeps trailing blank lines whose count depends on EOF details


def _is_mapping_entry(token: str) -> bool:
    if token[0] in "'\"":
        try:
            _key(token)
        except NotInSubset:
            return False
        return True
    return ": " in token or token.endswith(":")


def _key(entry: str) -> tuple[str, str]:
    """The key of the mapping entry ``entry`` and the rest of the line after ``: ``."""
    first = entry[0]
    if first == "'" or first == '"':
        text, rest = (_single_quoted if first == "'" else _double_quoted)(entry)
        if rest != ":" and rest[:2] != ": ":
            raise NotInSubset
        return text, rest[2:]
    split = entry.find(": ")
    if split == -1:
        if entry[-1] != ":":
            raise NotInSubset
        split = len(entry) - 1
    key = _plain(entry[:split])
    if type(key) is not str:
        raise NotInSubset  # numbers and booleans as keys: not in a JSON body
    return key, entry[split + 2 :]


def _plain(token: str) -> Any:
    """A plain scalar resolved as PyYAML's safe loader resolves it."""
    value = _PLAIN_CACHE.get(token, _PLAIN_CACHE)
    if value is not _PLAIN_CACHE:
        return value
    value = _resolve_plain(token)
    if len(_PLAIN_CACHE) < _PLAIN_CACHE_SIZE:
        _PLAIN_CACHE[token] = value  # scalars only, so sharing them between files is safe
    return value


def _resolve_plain(token: str) -> Any:
    if not token:
        raise NotInSubset  # ": value" has an empty key, "key: " an empty value
    first = token[0]
    if (
        first in _INDICATORS
        or (first in _SPACED_INDICATORS and token[1:2] in ("", " "))
        or token[-1] in " :"  # "key: value:" is a syntax error, not a string
        or " #" in token
        or ": " in token
    ):
        raise NotInSubset
    for tag, pattern in _RESOLVERS.get(first, ()):
        if pattern.match(token):
            return _construct(tag, token)
    return token


def _construct(tag: str, token: str) -> Any:
    kind = tag.rsplit(":", 1)[-1]
    if kind == "null":
        return None
    if kind == "bool":
        return _BOOLS[token.lower()]
    if kind == "int" and _INT.fullmatch(token):
        return int(token)
    if kind == "float":
        if _FLOAT.fullmatch(token):
            return float(token)
        lowered = token.lower()
        if lowered in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[lowered]
        if lowered == ".nan":
            return float("nan")
    raise NotInSubset  # octal, hex, sexagesimal, underscores, timestamps, merge keys, ...


def _single_quoted(token: str) -> tuple[str, str]:
    """A one-line ``'...'`` scalar at the start of ``token``, and what follows it."""
    start = 1
    while True:
        end = token.find("'", start)
        if end == -1:
            raise NotInSubset  # continues on the next line
        if token[end + 1 : end + 2] != "'":
            return token[1:end].replace("''", "'"), token[end + 1 :]
        start = end + 2


def _double_quoted(token: str) -> tuple[str, str]:
    """A one-line ``"..."`` scalar at the start of ``token``, and what follows it."""
    start = 1
    while True:
        end = token.find('"', start)
        if end == -1:
            raise NotInSubset
        backslashes = len(token[:end]) - len(token[:end].rstrip("\\"))
        if backslashes % 2 == 0:
            break
        start = end + 1
    inner = token[1:end]
    return (_ESCAPE.sub(_unescape, inner) if "\\" in inner else inner), token[end + 1 :]


def _unescape(match: re.Match[str]) -> str:
    kind, digits, char = match.groups()
    if kind is not None:
        if len(digits) < _HEX_ESCAPES[kind]:
            raise NotInSubset
        code = int(digits[: _HEX_ESCAPES[kind]], 16)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise NotInSubset
        return chr(code) + digits[_HEX_ESCAPES[kind] :]
    if char is None or char not in _ESCAPES:
        raise NotInSubset  # a line-continuation backslash, or an escape YAML does not have
    return _ESCAPES[char]
