"""Reading the YAML files users write (task specs, instruction files and sets) into pydantic schemas.

Every failure is one line naming the file, the line/column (YAML syntax) or the field (schema violations):
``<file>:<line>: field '<a.b>': <message>`` (:class:`FileContext`); a file with several schema violations gives
one such line for each (:class:`~harness.core.errors.InputErrors`), unknown keys first.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from harness.core.errors import HarnessError, Problems

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (on libyaml's C parser where PyYAML has it: ~10× faster), except that a key given twice
    in one mapping is an error (PyYAML keeps the last value silently): the error names both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            try:
                key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
                hash(key)
            except (TypeError, yaml.YAMLError):
                continue  # an unhashable key: PyYAML's own error below says so
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise DuplicateKey(key, seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-untyped-call,no-any-return]


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: int, second: int):
        super().__init__(f"duplicate key {key!r} (first at line {first}); keep one of them")
        self.key, self.first, self.second = key, first, second


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses a key given twice in one mapping (:class:`DuplicateKey`)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    try:
        return parse_yaml(text)
    except DuplicateKey as e:
        raise HarnessError(f"{path}:{e.second}: {e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise HarnessError(f"{path}: malformed YAML at {where}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise HarnessError(f"{path}: malformed YAML: {' '.join(str(e).split())}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # e.g. a timestamp PyYAML cannot build
        raise HarnessError(f"{path}: malformed YAML: {e.__class__.__name__}: {' '.join(str(e).split())}") from None


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
        raise FileContext(path).validation_error(e, schema) from None


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
        self._lines: dict[tuple[str | int, ...], int] | None = None

    @property
    def lines(self) -> dict[tuple[str | int, ...], int]:
        """The line map, read when the first error needs it (a valid file costs no second parse)."""
        if self._lines is None:
            try:
                self._lines = node_lines(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                self._lines = {}
        return self._lines

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

    def validation_error(self, err: ValidationError, schema: Any = None,
                         rename: dict[str, str] | None = None) -> HarnessError:
        """Every problem pydantic found, one line each, unknown keys first (with the key they were probably
        meant to be: a typo ``taks`` for the required ``tasks`` is reported once, as the unknown key).
        ``schema`` (the validated model) gives suggestions; ``rename`` maps field names to the file's keys."""
        problems = Problems()
        for loc, msg in validation_problems(err, schema):
            if rename and loc and str(loc[0]) in rename:
                loc = (rename[str(loc[0])], *loc[1:])
            problems.add(self.error(loc, msg))
        return problems.error()


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # drop pydantic's union-member tags such as "literal['a','b']" or "function-after[...]"
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p))


def _fields_at(schema: Any, path: tuple[str | int, ...]) -> list[str]:
    """The keys a pydantic model accepts at ``path`` (through nested models, dicts and lists), or []."""

    def unwrap(t: Any) -> Any:
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
        args = [a for a in get_args(t) if isinstance(a, type) and issubclass(a, BaseModel)]
        return args[0] if args and get_origin(t) not in (dict, list, tuple) else t

    t = schema
    for part in path:
        t = unwrap(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            field = t.model_fields.get(str(part))
            if field is None:
                return []
            t = field.annotation
        elif get_origin(t) is dict:
            t = get_args(t)[1]
        elif get_origin(t) in (list, tuple):
            t = get_args(t)[0]
        else:
            return []
    t = unwrap(t)
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, BaseModel) else []


def validation_problems(err: ValidationError, schema: Any = None) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, message) of every error, unknown keys first; a required key missing next to an unknown key
    that resembles it is folded into that key's message."""
    errors = [(e["type"], _clean_loc(tuple(e["loc"])), e["msg"]) for e in err.errors()]
    missing = {loc for kind, loc, _ in errors if kind == "missing"}
    explained: set[tuple[str | int, ...]] = set()
    unknown_keys, others = [], []
    for kind, loc, _msg in errors:
        if kind != "extra_forbidden":
            continue
        parent, key = loc[:-1], str(loc[-1]) if loc else ""
        siblings = [str(m[-1]) for m in missing if m[:-1] == parent]
        close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6) or difflib.get_close_matches(
            key, _fields_at(schema, parent), n=1, cutoff=0.6)
        if close:
            explained.add((*parent, close[0]))
        hint = f"; did you mean '{close[0]}'?" if close else ""
        unknown_keys.append((loc, f"unknown key '{key}'{hint}"))
    for kind, loc, msg in errors:
        if kind == "extra_forbidden" or (kind == "missing" and loc in explained):
            continue
        msg = msg.removeprefix("Value error, ")
        others.append((loc, msg if len(msg) <= 140 else msg[:137] + "..."))
    return unknown_keys + others


def load_validated(path: Path, schema: type[M]) -> tuple[M, FileContext]:
    """Read ``path`` into ``schema``; every failure is one ``HarnessError`` line with file, line and field."""
    data = read_yaml(path)
    ctx = FileContext(path)
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return schema.model_validate(data), ctx
    except ValidationError as e:
        raise ctx.validation_error(e, schema) from None


