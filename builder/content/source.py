"""Split Markdown files into YAML front matter and body, and locate YAML values by line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

try:  # libyaml's C loader is ~10x faster; the pure-Python one is the fallback
    from yaml import CSafeLoader as FastLoader
except ImportError:  # pragma: no cover - libyaml is in PyYAML's wheels
    from yaml import SafeLoader as FastLoader  # type: ignore[assignment]

FENCE = "---"


class FrontMatterError(ValueError):
    """Raised when a file's front matter is missing, unterminated or not valid YAML; carries a line."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


@dataclass(frozen=True)
class SourceFile:
    """A Markdown file split in two: `meta_text` starts at line 2, `body` at `body_line`."""

    meta_text: str
    body: str
    body_line: int  # 1-based line number of the body's first line in the file


def split_front_matter(text: str) -> SourceFile:
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != FENCE:
        raise FrontMatterError(1, "missing front matter: start the file with a '---' line, then YAML, then '---'")
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") == FENCE:
            return SourceFile("".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2)
    raise FrontMatterError(1, "front matter is not closed: add a '---' line after the YAML")


def parse_yaml(text: str, *, first_line: int = 1) -> Any:
    """Parse YAML fast; on failure report the line (in file terms) where the parser stopped."""
    try:
        return yaml.load(text, Loader=FastLoader)
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
