"""The scores of an mteb ``TaskResult`` JSON file, read as JSON (importing mteb costs seconds; the file, 0.02 s).

Reads the fields ``harness aggregate`` uses — ``scores``: {split: [{metric: value, ..., "hf_subset": ...}]} —
with the checks mteb's ``TaskResult`` applies to them (every entry a mapping with ``main_score``, a string
``hf_subset`` and a list ``languages``). Files older than mteb 1.12.48 (another layout, fixed up by mteb on load)
are handed to mteb's own ``TaskResult.from_disk``, imported only then.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError

CURRENT_LAYOUT = (1, 12, 48)  # mteb converts the scores of files written before this version on load


def _version(v: Any) -> tuple[int, ...] | None:
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", str(v)) if v else None
    return tuple(int(x) for x in m.groups()) if m else None


def _unreadable(path: Path, why: str) -> HarnessError:
    return HarnessError(f"{path}: unreadable mteb result ({why}); rerun the cell")


def _from_mteb(path: Path) -> dict[str, list[dict[str, Any]]]:
    from harness.core.offline import configure

    configure()
    from mteb.results import TaskResult

    try:
        return {str(k): [dict(e) for e in v] for k, v in TaskResult.from_disk(path).scores.items()}
    except Exception as e:
        raise _unreadable(path, e.__class__.__name__) from None


def read_scores(path: Path) -> dict[str, list[dict[str, Any]]]:
    """{split: [one mapping per subset: metric → value, plus ``hf_subset``, ``languages``, ...]} of ``path``."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _unreadable(path, "FileNotFoundError") from None
    except (OSError, ValueError) as e:
        raise _unreadable(path, e.__class__.__name__) from None
    if not isinstance(data, dict):
        raise _unreadable(path, f"top level is {type(data).__name__}, not a mapping")
    version = _version(data.get("mteb_version"))
    if version is None or version < CURRENT_LAYOUT:
        return _from_mteb(path)
    scores = data.get("scores")
    if not isinstance(scores, dict):
        raise _unreadable(path, "'scores' is not a mapping")
    for split, entries in scores.items():
        if not isinstance(entries, list):
            raise _unreadable(path, f"scores[{split!r}] is not a list")
        for entry in entries:
            if not isinstance(entry, dict) or "main_score" not in entry \
                    or not isinstance(entry.get("hf_subset"), str) or not isinstance(entry.get("languages"), list):
                raise _unreadable(path, f"scores[{split!r}]: an entry without main_score, hf_subset or languages")
    return scores
