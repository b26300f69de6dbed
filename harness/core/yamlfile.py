"""Reading the YAML files users write (task specs, instruction files and sets) into pydantic schemas.

Every failure becomes one ``HarnessError`` line naming the file, the line/column (YAML syntax) or the field
(schema violations): ``<file>:<line>: field '<a.b>': <message>`` (:class:`FileContext`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from harness.core.errors import HarnessError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise HarnessError(f"{path}: malformed YAML at {where}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise HarnessError(f"{path}: malformed YAML: {e}") from None


def describe_validation_error(path: Path | str, err: ValidationError) -> str:
    first = err.errors()[0]
    # drop pydantic's union-member tags such as "literal['a','b']" or "function-after[...]"
    parts = [str(p) for p in first["loc"] if not (isinstance(p, str) and "[" in p)]
    field = ".".join(parts) or "(top level)"
    msg = first["msg"] if len(first["msg"]) <= 140 else first["msg"][:137] + "..."
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{path}: field '{field}': {msg}{more}"


def load(path: Path, schema: type[T] | Any) -> T:
    """Read ``path`` and validate it against ``schema`` (a pydantic model or a type for TypeAdapter)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(data)  # type: ignore[return-value]
        return TypeAdapter(schema).validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as e:
        raise HarnessError(describe_validation_error(path, e)) from None


def node_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """YAML path → 1-based line of its key (mappings) or item (sequences), from the composed node tree."""
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


class FileContext:
    """One file's path and line map, to make one-line errors: ``<file>:<line>: field '<a.b>': <message>``."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.lines = node_lines(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            self.lines = {}

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def error(self, loc: tuple[str | int, ...], message: str) -> HarnessError:
        line = self.line(loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        field = ".".join(str(p) for p in loc) or "(top level)"
        return HarnessError(f"{where}: field '{field}': {message}")

    def validation_error(self, err: ValidationError) -> HarnessError:
        first = err.errors()[0]
        # drop pydantic's union-member tags such as "literal['a','b']" or "function-after[...]"
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return self.error(loc, f"{msg}{more}")


def load_validated(path: Path, schema: type[M]) -> tuple[M, FileContext]:
    """Read ``path`` into ``schema``; every failure is one ``HarnessError`` line with file, line and field."""
    data = read_yaml(path)
    ctx = FileContext(path)
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return schema.model_validate(data), ctx
    except ValidationError as e:
        raise ctx.validation_error(e) from None


