"""Reading the YAML files users write (task specs, instruction files and sets) into pydantic schemas.

Every failure becomes one ``HarnessError`` line naming the file, the line/column (YAML syntax) or the field
(schema violations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from harness.errors import HarnessError

T = TypeVar("T")


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
