"""Split Markdown files into YAML front matter and body, and locate YAML values by line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

try:  # libyaml's C loader is ~10x faster; the pure-Python one is the fallback
    from yaml import CSafeLoader as FastLoader
except ImportError:  # pragma: no cover - libyaml is in PyYAML's wheels
    from yaml import SafeLoader as FastLoader  # type: ignore[assignment]

from builder.errors import FrontMatterError

FENCE = "---"
# C0 controls (tab, LF and CR aside) and the two non-characters: not allowed in XML, so never in the Atom feed
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])  # the same C0 set, as UTF-8 bytes
NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")  # U+FFFE, U+FFFF in UTF-8
FENCE_LINE = re.compile(r"^---\r?$", re.M)
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML would silently keep the last value)."""

    def __init__(self, key: str, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(problem=f"duplicate key '{key}'", problem_mark=second)
        self.key = key
        self.first_line = first.line


class ContentLoader(FastLoader):
    """libyaml's loader, refusing duplicate keys and leaving dates as text for pydantic to check.

    PyYAML turns `2026-13-01` into a ValueError with no line; as a string it reaches the model, which reports it
    at the field's line like any other bad value.
    """

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP_TAG]
        for first, resolvers in FastLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, yaml.Mark] = {}
            for key_node, _value in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE_TAG:
                    continue
                if key_node.value in seen:
                    raise DuplicateKeyError(key_node.value, seen[key_node.value], key_node.start_mark)
                seen[key_node.value] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]



@dataclass(frozen=True)
class SourceFile:
    """A Markdown file split in two: `meta_text` starts at line 2, `body` at `body_line`."""

    meta_text: str
    body: str
    body_line: int  # 1-based line number of the body's first line in the file


def split_front_matter(text: str) -> SourceFile:
    """Split at the first `---` line after the opening one; lines are counted by "\\n", as editors count them."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first_end = text.find("\n")
    first = text if first_end == -1 else text[:first_end]
    if first.rstrip("\r") != FENCE:
        raise FrontMatterError(1, "missing front matter: start the file with a '---' line, then YAML, then '---'")
    closing = FENCE_LINE.search(text, first_end + 1) if first_end != -1 else None
    if closing is None:
        raise FrontMatterError(1, "front matter is not closed: add a '---' line after the YAML")
    body_line = text.count("\n", 0, closing.start()) + 2
    return SourceFile(text[first_end + 1 : closing.start()], text[closing.end() + 1 :], body_line)


def parse_yaml(text: str, *, first_line: int = 1) -> Any:
    """Parse YAML fast; on failure report the line (in file terms) where the parser stopped."""
    try:
        return yaml.load(text, Loader=ContentLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as error:
        assert error.problem_mark is not None
        raise FrontMatterError(
            first_line + error.problem_mark.line,
            f"duplicate key '{error.key}' (first set at line {first_line + error.first_line}): keep one of them",
        ) from None
    except yaml.reader.ReaderError as error:
        line = first_line + text.count("\n", 0, error.position)
        raise FrontMatterError(line, control_message(chr(error.character) if isinstance(error.character, int)
                                                     else str(error.character))) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = first_line + (mark.line if mark else 0)
        problem = error.problem or "invalid YAML"
        raise FrontMatterError(line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise FrontMatterError(first_line, f"invalid YAML: {error}") from None


def locate(text: str, loc: tuple[str | int, ...], *, first_line: int = 1) -> int:
    """The file line of the YAML node at pydantic `loc` (the key for unknown fields, the value otherwise).

    Only called on the error path: composing the node tree costs far more than parsing.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return first_line
    line = node.start_mark.line if node is not None else 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    line = key_node.start_mark.line
                    node = value_node
                    if not isinstance(value_node, yaml.MappingNode | yaml.SequenceNode):
                        line = value_node.start_mark.line
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return first_line + line


def control_message(character: str) -> str:
    return f"control character U+{ord(character[:1] or chr(0)):04X} in the text: remove it (a feed cannot carry it)"


def has_control_bytes(data: bytes) -> bool:
    """Whether UTF-8 `data` holds a character of CONTROL (a C0 byte never occurs inside a multi-byte sequence),
    at C speed: the check runs on every content file."""
    return len(data.translate(None, CONTROL_BYTES)) != len(data) or any(n in data for n in NONCHARACTERS)


def control_characters(text: str, *, first_line: int = 1) -> Iterator[tuple[int, str]]:
    """(file line, message) for every line of `text` holding a control character."""
    for match in CONTROL.finditer(text):
        yield first_line + text.count("\n", 0, match.start()), control_message(match.group())


def escaped_controls(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(pydantic-style loc, character) of every string in parsed YAML holding a control character (written as
    an escape such as "\\a" in a double-quoted value, since the file text itself has none)."""
    if isinstance(data, str):
        match = CONTROL.search(data)
        if match:
            yield loc, match.group()
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from escaped_controls(value, (*loc, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from escaped_controls(value, (*loc, index))
