"""Where each file of a results folder lives (the folder's layout), shared by the writer and every reader.

```
<results>/results/<org__model>/<revision>/experiments/condition_<c>/<Task>.json   mteb TaskResult (+ model_meta.json)
<results>/cells/<org__model>/<revision>/<c>/<Task>.json                      harness sidecar (the cell's identity)
<results>/cells/<org__model>/<revision>/<c>/<Task>.predictions.parquet       item-level predictions
<results>/cells/<org__model>/<revision>/<c>/<Task>.<artifact>                probe artifacts (cosines, language PCA)
```

The condition is mteb's *experiment* (``experiment_kwargs={"condition": c}``), so ``mteb.ResultCache(<results>)``
reads every condition back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# What a cell stores (bump when it changes; every older cell is then recomputed). 2: MixedPool ranks fixed, shift
# probe. 3: STS predictions carry their texts (word-level resampling), sidecars the task's stated resample unit.
RESULT_SCHEMA_VERSION = 3
CELLS_DIR = "cells"
MTEB_DIR = "results"
SIDECAR_GLOB = "*/*/*/*.json"  # under CELLS_DIR: <model>/<revision>/<condition>/<Task>.json
PREDICTIONS_SUFFIX = ".predictions.parquet"
COSINES_ARTIFACT = "cosines.parquet"  # an STS cell's word × word cosine matrix (pair probe)
LANGUAGE_ARTIFACT = "language_pca"  # language probe coordinates: <Task>.language_pca[.<sub>.<split>].parquet
LANGUAGE_META_KEY = b"harness.language_probe"  # parquet metadata key of those artifacts
RUN_STATUS = "run-status.json"
LEFT_OUT_CELLS = "left-out-cells.json"  # written by aggregate: cells left out (stale or unreadable), with reasons
STALE_CELLS = "stale-cells.json"  # the older name of that file (stale cells only); read when no left-out file exists


def model_path(name: str) -> str:
    """A model name as one path component (``org/model`` → ``org__model``)."""
    return name.replace("/", "__").replace(" ", "_")


def experiment(condition: str) -> str:
    return f"condition_{condition}"


def result_path(results_dir: Path, model: str, revision: str, condition: str, task: str) -> Path:
    return (results_dir / MTEB_DIR / model_path(model) / revision / "experiments" / experiment(condition)
            / f"{task}.json")


def sidecar_path(results_dir: Path, model: str, revision: str, condition: str, task: str) -> Path:
    return results_dir / CELLS_DIR / model_path(model) / revision / condition / f"{task}.json"


def predictions_path(sidecar: Path) -> Path:
    return sidecar.with_name(f"{sidecar.stem}{PREDICTIONS_SUFFIX}")


def artifact_path(sidecar: Path, name: str) -> Path:
    return sidecar.with_name(f"{sidecar.stem}.{name}")


def sidecar_files(results_dir: Path) -> list[Path]:
    """Every cell sidecar of a results folder, sorted."""
    return sorted((results_dir / CELLS_DIR).glob(SIDECAR_GLOB))


# What aggregate and every reader of cells need from a sidecar, with its JSON type (a wrong type is a bad cell).
_TEXT, _OBJECT, _LIST, _NUMBER = (str,), (dict,), (list,), (int, float)
SIDECAR_FIELDS: dict[str, tuple[type, ...]] = {
    "model": _TEXT, "alias": _TEXT, "revision": _TEXT, "condition": _TEXT, "task": _TEXT, "task_type": _TEXT,
    "prompts_sha256": _TEXT, "result_file": _TEXT, "main_score": _TEXT, "n_items": _OBJECT, "created_at": _TEXT,
    "mteb_version": _TEXT, "harness_version": _TEXT,
}
SIDECAR_OPTIONAL: dict[str, tuple[type, ...]] = {  # may be missing or null
    "probes": _LIST, "prompts": _OBJECT, "predictions_file": _TEXT, "task_data_sha256": _TEXT,
    "model_identity": _TEXT, "task_dir": _TEXT, "condition_file": _TEXT, "family": _TEXT, "resample_unit": _TEXT,
}
_PROBE_FIELDS: dict[str, tuple[type, ...]] = {"subset": _TEXT, "split": _TEXT, "metric": _TEXT, "score": _NUMBER}


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _typed(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def sidecar_problems(side: Any) -> list[str]:
    """Why a parsed sidecar cannot be used (empty when it can): not an object, missing fields, wrong types."""
    if not isinstance(side, dict):
        return [f"holds {_kind(side)}, not a JSON object"]
    out = []
    missing = [k for k in SIDECAR_FIELDS if k not in side]
    if missing:
        out.append(f"missing field(s) {', '.join(missing)}")
    for k, types in [*SIDECAR_FIELDS.items(), *SIDECAR_OPTIONAL.items()]:
        if k in side and not (k in SIDECAR_OPTIONAL and side[k] is None) and not _typed(side[k], types):
            out.append(f"field '{k}' is {_kind(side[k])}, expected {_kind(types[0]())}")
    empty = [k for k in ("model", "alias", "revision", "condition", "task") if side.get(k) == ""]
    if empty:
        out.append(f"empty field(s) {', '.join(empty)}")
    n_items = side.get("n_items")
    if isinstance(n_items, dict) and not all(
            isinstance(v, dict) and all(n is None or _typed(n, (int,)) for n in v.values()) for v in n_items.values()):
        out.append("field 'n_items' is not {subset: {split: count}}")
    probes = side.get("probes")
    for i, p in enumerate(probes if isinstance(probes, list) else []):  # a non-list is reported above
        if not isinstance(p, dict) or any(k not in p or not _typed(p[k], t) for k, t in _PROBE_FIELDS.items()):
            out.append(f"field 'probes[{i}]' is not {{subset, split, metric, score}}")
            break
    return out


class BadCell(ValueError):
    """A cell whose sidecar cannot be read or used; ``str()`` is the reason (one line)."""


def read_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar's content, checked (:func:`sidecar_problems`); raises :class:`BadCell` with the reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BadCell(f"not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise BadCell(f"unreadable ({e.strerror or e.__class__.__name__})") from None
    if not text.strip():
        raise BadCell("empty file")
    try:
        side = json.loads(text)
    except ValueError as e:
        where = f" at line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise BadCell(f"not valid JSON{where} (cut short?)") from None
    problems = sidecar_problems(side)
    if problems:
        raise BadCell("; ".join(problems))
    return side  # type: ignore[no-any-return]  # checked to be an object


def read_sidecars(results_dir: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[tuple[Path, str]]]:
    """(path, content) of every usable sidecar and (path, reason) of every unusable one, each sorted by path."""
    good, bad = [], []
    for path in sidecar_files(results_dir):
        try:
            good.append((path, read_sidecar(path)))
        except BadCell as e:
            bad.append((path, str(e)))
    return good, bad


def sidecars(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, content) of every usable cell sidecar, sorted by path. Unusable ones (truncated, empty, wrong types)
    are skipped here; ``harness aggregate`` lists them (:func:`read_sidecars`, ``left-out-cells.json``)."""
    yield from read_sidecars(results_dir)[0]


def left_out_sidecars(outputs: Path) -> set[str]:
    """Sidecars (relative to the results folder) that the last ``harness aggregate`` left out of every table
    (stale or unreadable), as listed in ``<outputs>/left-out-cells.json`` (or, from an older harness,
    ``stale-cells.json``); readers of cells (report, plots) leave them out too."""
    for name in (LEFT_OUT_CELLS, STALE_CELLS):
        try:
            body = json.loads((outputs / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(body, dict):
            return set()
        entries = [*body.get("stale", []), *body.get("unreadable", [])]
        return {s["sidecar"] for s in entries if isinstance(s, dict) and isinstance(s.get("sidecar"), str)}
    return set()


def stale_sidecars(results_dir: Path) -> set[str]:
    """Kept for callers of the older name: :func:`left_out_sidecars`."""
    return left_out_sidecars(results_dir)


def current_sidecars(results_dir: Path, outputs: Path | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, content) of every usable cell sidecar not listed as left out (in ``outputs``, by default the results
    folder: aggregate passes its staging folder), sorted by path."""
    left_out = left_out_sidecars(outputs or results_dir)
    for path, side in sidecars(results_dir):
        if str(path.relative_to(results_dir)) not in left_out:
            yield path, side
