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
STALE_CELLS = "stale-cells.json"  # written by aggregate: cells whose inputs changed since they ran (left out)


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


def sidecars(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, content) of every cell sidecar, sorted by path."""
    for path in sidecar_files(results_dir):
        yield path, json.loads(path.read_text(encoding="utf-8"))


def stale_sidecars(results_dir: Path) -> set[str]:
    """Sidecars (relative to the results folder) that the last ``harness aggregate`` found stale and left out of
    every table; readers of cells (report, plots) leave them out too."""
    try:
        body = json.loads((results_dir / STALE_CELLS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {s["sidecar"] for s in body.get("stale", []) if isinstance(s, dict) and "sidecar" in s}


def current_sidecars(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, content) of every cell sidecar that is not listed as stale, sorted by path."""
    stale = stale_sidecars(results_dir)
    for path, side in sidecars(results_dir):
        if str(path.relative_to(results_dir)) not in stale:
            yield path, side
