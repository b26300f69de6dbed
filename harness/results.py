"""Aggregate: scan the results folder → leaderboard and deltas parquet (one schema module for both).

``aggregate`` derives everything from the files on disk (cell sidecars + mteb TaskResult JSON); it never
consults a manifest, so it can be rerun alone at any time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from harness import atomic
from harness.errors import HarnessError
from harness.offline import configure

configure()

from mteb.results import TaskResult  # noqa: E402

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
BASELINE = "none"

LEADERBOARD_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("model", pa.string()),
        ("alias", pa.string()),
        ("revision", pa.string()),
        ("condition", pa.string()),
        ("instruction_sha256", pa.string()),
        ("task", pa.string()),
        ("task_type", pa.string()),
        ("subset", pa.string()),
        ("split", pa.string()),
        ("kind", pa.string()),  # "mteb" (a score mteb computed) or "probe" (a harness probe value)
        ("metric", pa.string()),
        ("is_main", pa.bool_()),
        ("score", pa.float64()),
        ("n_items", pa.int64()),
        ("mteb_version", pa.string()),
        ("harness_version", pa.string()),
        ("created_at", pa.string()),
    ]
)
PREDICTIONS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("model", pa.string()),
        ("revision", pa.string()),
        ("condition", pa.string()),
        ("task", pa.string()),
        ("task_type", pa.string()),
        ("subset", pa.string()),
        ("split", pa.string()),
        ("item", pa.int64()),  # pair index (STS), query index (Retrieval), sentence index (BitextMining)
        ("query_id", pa.string()),  # Retrieval only
        ("doc_id", pa.string()),  # Retrieval only: a relevant document of the query
        ("gold", pa.float64()),  # gold score / relevance / index of the translation
        ("prediction", pa.float64()),  # cosine / retrieval score of doc_id / matched index
        ("rank", pa.int64()),  # Retrieval only: 1-based rank of doc_id, null when not retrieved
    ]
)
DELTA_KEYS = ["model", "alias", "revision", "task", "task_type", "subset", "split", "kind", "metric", "is_main"]
DELTAS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *[LEADERBOARD_SCHEMA.field(k) for k in DELTA_KEYS],
        ("condition", pa.string()),
        ("baseline", pa.string()),
        ("instruction_sha256", pa.string()),
        ("score", pa.float64()),
        ("baseline_score", pa.float64()),
        ("delta", pa.float64()),
        ("n_items", pa.int64()),
    ]
)


def _scalars(scores: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in scores.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("evaluation_time",)
    }


def _rows_for_cell(sidecar_path: Path, results_dir: Path) -> list[dict[str, Any]]:
    side = json.loads(sidecar_path.read_text(encoding="utf-8"))
    result_path = results_dir / side["result_file"]
    try:
        tr = TaskResult.from_disk(result_path)
    except Exception as e:
        raise HarnessError(f"{result_path}: unreadable mteb result ({e.__class__.__name__}); rerun the cell") from None
    base = {
        "schema_version": SCHEMA_VERSION,
        "model": side["model"],
        "alias": side["alias"],
        "revision": side["revision"],
        "condition": side["condition"],
        "instruction_sha256": side["prompts_sha256"],
        "task": side["task"],
        "task_type": side["task_type"],
        "mteb_version": side["mteb_version"],
        "harness_version": side["harness_version"],
        "created_at": side["created_at"],
    }
    rows: list[dict[str, Any]] = []
    for split, entries in tr.scores.items():
        for entry in entries:
            subset = entry.get("hf_subset", "default")
            n = side["n_items"].get(subset, {}).get(split)
            for metric, value in sorted(_scalars(entry).items()):
                if metric == "main_score":
                    continue
                rows.append(
                    base | {"subset": subset, "split": split, "kind": "mteb", "metric": metric,
                            "is_main": metric == side["main_score"], "score": value, "n_items": n}
                )
    for p in side.get("probes", []):
        rows.append(base | {"subset": p["subset"], "split": p["split"], "kind": "probe", "metric": p["metric"],
                            "is_main": False, "score": p["score"], "n_items": p["n_items"]})
    return rows


def leaderboard(results_dir: Path) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for sidecar in sorted((results_dir / "cells").glob("*/*/*/*.json")):
        rows += _rows_for_cell(sidecar, results_dir)
    df = pd.DataFrame(rows, columns=LEADERBOARD_SCHEMA.names)
    df = df.astype({"score": "float64", "is_main": "bool"})
    return df.sort_values(["model", "revision", "task", "subset", "split", "metric", "condition"],
                          ignore_index=True)


def deltas(board: pd.DataFrame) -> pd.DataFrame:
    """Score under each condition minus the score under ``none``, same keys."""
    base = board[board.condition == BASELINE][[*DELTA_KEYS, "score"]].rename(columns={"score": "baseline_score"})
    other = board[board.condition != BASELINE]
    df = other.merge(base, on=DELTA_KEYS, how="inner")
    df["baseline"] = BASELINE
    df["delta"] = df["score"] - df["baseline_score"]
    df["schema_version"] = SCHEMA_VERSION
    return df[DELTAS_SCHEMA.names].sort_values([*DELTA_KEYS, "condition"], ignore_index=True)


def write_parquet(df: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    import pyarrow.parquet as pq

    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))


def aggregate(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild ``leaderboard.parquet`` and ``deltas.parquet`` from the cells on disk."""
    board = leaderboard(results_dir)
    if board.empty:
        raise HarnessError(f"{results_dir}: no results to aggregate; run `harness run` first")
    d = deltas(board)
    write_parquet(board, LEADERBOARD_SCHEMA, results_dir / "leaderboard.parquet")
    write_parquet(d, DELTAS_SCHEMA, results_dir / "deltas.parquet")
    return board, d


def delta_table(board: pd.DataFrame) -> str:
    """Main scores per model × task × subset, one column per condition, with Δ against ``none``."""
    main = board[board.is_main]
    if main.empty:
        return "(no main scores)"
    wide = main.pivot_table(index=["alias", "task", "subset"], columns="condition", values="score", aggfunc="first")
    conds = [BASELINE, *[c for c in wide.columns if c != BASELINE]] if BASELINE in wide.columns else list(wide.columns)
    wide = wide[conds]
    lines = []
    header = f"{'model':<22} {'task':<30} {'subset':<10} " + " ".join(f"{c:>10}" for c in conds)
    if BASELINE in conds:
        header += " " + " ".join(f"{'Δ ' + c:>12}" for c in conds if c != BASELINE)
    lines.append(header)
    for (alias, task, subset), row in wide.iterrows():
        line = f"{alias:<22} {task:<30} {subset:<10} " + " ".join(f"{row[c]:>10.4f}" for c in conds)
        if BASELINE in conds:
            line += " " + " ".join(f"{row[c] - row[BASELINE]:>+12.4f}" for c in conds if c != BASELINE)
        lines.append(line)
    return "\n".join(lines)


def pair_table(board: pd.DataFrame) -> str:
    """The origin's pair table: cosine of each reported pair per model and condition, plus claim verdicts."""
    probes = board[(board.kind == "probe") & (board.subset == "pairs")]
    if probes.empty:
        return "(no pair probes)"
    out = []
    for (alias, task), g in probes.groupby(["alias", "task"], sort=True):
        wide = g.pivot_table(index="metric", columns="condition", values="score", aggfunc="first")
        conds = [c for c in [BASELINE, *sorted(set(wide.columns) - {BASELINE})] if c in wide.columns]
        out.append(f"{alias} — {task}")
        out.append(f"  {'pair':<40} " + " ".join(f"{c:>10}" for c in conds))
        for metric, row in wide.iterrows():
            name = str(metric).split(":", 1)[1]
            if str(metric).startswith("cosine:"):
                cells = " ".join(f"{row[c]:>10.4f}" for c in conds)
            else:
                cells = " ".join(f"{('yes' if row[c] else 'no'):>10}" for c in conds)
                name = f"claim {name}"
            out.append(f"  {name:<40} {cells}")
    return "\n".join(out)
