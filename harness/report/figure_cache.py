"""A cache of the report's figures, so that ``harness aggregate`` and ``make findings`` draw only what changed.

A figure is a pure function of its inputs (the frames, arrays and values passed to the function that draws it)
and of the code that draws it. The key hashes exactly those: a digest of every argument (a DataFrame by its
columns, dtypes and :func:`pandas.util.hash_pandas_object` of its rows and index; an array by dtype, shape and
bytes; dataclasses, mappings and sequences element by element), the drawing function's name, the sha256 of the
source files of its module and of :mod:`harness.report.html` (so an edited figure is redrawn, never served old),
matplotlib's version and :data:`VERSION`. A changed input redraws; an unchanged one is read back.

Entries are files under ``.cache/figures/`` beside the statistics cache (or ``$HARNESS_FIGURE_CACHE``;
``HARNESS_FIGURE_CACHE=off`` turns it off), written atomically. A drawing function returns a
:class:`~harness.report.html.Figure`, a list of them, raw bytes or None; the entry stores exactly that (a JSON
header and the bytes; nothing is unpickled). The cache can only save time: an unreadable or malformed entry is a
miss and is drawn again. :data:`DRAWS` counts the draws of this process per function (what the tests count).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.core.offline import CACHE_DIR
from harness.report.html import Figure

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

VERSION = 1  # bump with any change to how entries are keyed or stored
DRAWS: Counter[str] = Counter()  # function name → figures drawn (not read back) by this process
HITS: Counter[str] = Counter()  # function name → figures read back from the cache by this process


def default_dir() -> Path | None:
    where = os.environ.get("HARNESS_FIGURE_CACHE", "")
    if where.lower() == "off":
        return None
    return Path(where) if where else CACHE_DIR / "figures"


def _update(h: Any, obj: Any) -> None:
    """Feed a canonical encoding of ``obj`` into the hash ``h`` (type-tagged, so ``1`` and ``"1"`` differ)."""
    if obj is None or isinstance(obj, bool | int | float | str):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, bytes):
        h.update(b"bytes:%d;" % len(obj) + obj)
    elif isinstance(obj, Path):
        h.update(f"path:{obj};".encode())
    elif isinstance(obj, pd.DataFrame):
        h.update(f"frame:{list(map(str, obj.columns))!r}:{list(map(str, obj.dtypes))!r}:{obj.shape};".encode())
        if len(obj.columns) and len(obj):
            h.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
    elif isinstance(obj, pd.Series):
        _update(h, obj.to_frame())
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"array:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    elif isinstance(obj, np.generic):
        _update(h, obj.item())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"dataclass:{type(obj).__qualname__};".encode())
        for f in dataclasses.fields(obj):
            _update(h, f.name)
            _update(h, getattr(obj, f.name))
    elif isinstance(obj, Mapping):
        h.update(f"map:{len(obj)};".encode())
        for k in sorted(obj, key=repr):
            _update(h, k)
            _update(h, obj[k])
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__}:{len(obj)};".encode())
        for x in obj:
            _update(h, x)
    elif isinstance(obj, set | frozenset):
        _update(h, sorted(obj, key=repr))
    else:
        raise TypeError(f"figure cache: cannot key an argument of type {type(obj).__name__}")


@functools.cache
def _source_sha256(*files: str) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            h.update(Path(f).read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()


def _mpl_version() -> str:
    try:
        return metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        return "?"


def key(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """The cache key of ``fn(*args, **kwargs)``: its inputs, its code and matplotlib's version."""
    module = sys.modules[fn.__module__]
    code = _source_sha256(str(module.__file__), str(sys.modules[Figure.__module__].__file__))
    h = hashlib.sha256(json.dumps([VERSION, fn.__module__, fn.__qualname__, code, _mpl_version()]).encode())
    _update(h, list(args))
    _update(h, dict(kwargs))
    return h.hexdigest()


def _encode(value: Any) -> bytes:
    """Figure | list[Figure] | bytes | None → a JSON header line and the blobs."""
    if value is None:
        return json.dumps({"kind": "none"}).encode() + b"\n"
    if isinstance(value, bytes):
        return json.dumps({"kind": "bytes", "sizes": [len(value)]}).encode() + b"\n" + value
    figs = [value] if isinstance(value, Figure) else value
    if not isinstance(figs, list) or not all(isinstance(f, Figure) for f in figs):
        raise TypeError(f"figure cache: cannot store a {type(value).__name__}")
    head = {"kind": "figure" if isinstance(value, Figure) else "figures",
            "figures": [[f.name, f.title] for f in figs], "sizes": [len(f.png) for f in figs]}
    return json.dumps(head).encode() + b"\n" + b"".join(f.png for f in figs)


def _decode(blob: bytes) -> Any:
    line, _, rest = blob.partition(b"\n")
    head = json.loads(line)
    if head["kind"] == "none":
        return None
    sizes = [int(s) for s in head["sizes"]]
    if sum(sizes) != len(rest):
        raise ValueError("truncated entry")
    parts, at = [], 0
    for s in sizes:
        parts.append(rest[at:at + s])
        at += s
    if head["kind"] == "bytes":
        return parts[0]
    figs = [Figure(str(n), str(t), p) for (n, t), p in zip(head["figures"], parts, strict=True)]
    return figs[0] if head["kind"] == "figure" else figs


def cached(fn: F) -> F:
    """Decorate a drawing function: its result is read back when the same inputs and code drew it before."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        folder = default_dir()
        name = fn.__qualname__
        if folder is None:
            DRAWS[name] += 1
            return fn(*args, **kwargs)
        k = key(fn, args, kwargs)
        path = folder / k[:2] / f"{k}.fig"
        try:
            value = _decode(path.read_bytes())
            HITS[name] += 1
            return value
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as e:  # a damaged entry is a miss, drawn again
            log.warning("figure cache: %s unreadable (%s); drawing it again", path, e.__class__.__name__)
        value = fn(*args, **kwargs)
        DRAWS[name] += 1
        try:
            atomic.write_bytes(path, _encode(value))
        except (HarnessError, OSError) as e:  # a cache that cannot be written only costs time
            log.warning("figure cache: cannot write %s (%s)", path, e)
        return value

    return cast(F, wrapper)
