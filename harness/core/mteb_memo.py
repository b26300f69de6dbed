"""Answers from mteb's registry or validators, kept per mteb version so that a command that only needs the
answer (``harness validate``, ``harness ls models``) does not import mteb (seconds) to get it again.

An entry is a JSON file ``.cache/mteb-memo-<mteb version>-<name>.json`` mapping a key (what the answer is a
function of, hashed by the caller) to a JSON value. A missing, unreadable or unwritable file only costs time:
the caller computes the answer (importing mteb) and the file is rewritten atomically.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.core.offline import CACHE_DIR


def mteb_version() -> str:
    try:
        return importlib.metadata.version("mteb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _path(name: str) -> Path:
    return CACHE_DIR / f"mteb-memo-{mteb_version()}-{name}.json"


def read(name: str) -> dict[str, Any]:
    try:
        data = json.loads(_path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write(name: str, entries: dict[str, Any]) -> None:
    with contextlib.suppress(HarnessError, OSError):  # a memo that cannot be written only costs time
        atomic.write_text(_path(name), json.dumps(entries, sort_keys=True))


def memo(name: str, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (a JSON value) for ``key``, read back when this mteb version computed it before."""
    entries = read(name)
    if key in entries:
        return entries[key]
    value = compute()
    write(name, {**read(name), key: value})
    return value


def every_registry_task() -> list[Any]:
    """Every task of mteb's registry (superseded, private and beta included), with mteb's log and warnings kept off
    the console while it builds them (offline variables set first): one mteb import, seconds."""
    import logging
    import warnings

    from harness.core.offline import configure

    configure()
    import mteb

    quiet = logging.getLogger("mteb")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(mteb.get_tasks(exclude_superseded=False, exclude_private=False, exclude_beta=False))
    finally:
        quiet.setLevel(level)
