"""Aggregate: scan the results folder → leaderboard and deltas parquet. The one schema module for every parquet
output: leaderboard, deltas and the per-cell item-level predictions (each with a ``schema_version`` column).

``aggregate`` derives everything from the files on disk (cell sidecars, mteb TaskResult JSON, predictions); it never
consults a manifest, so it can be rerun alone at any time. Each main-metric delta gets paired statistics recomputed
from the two cells' predictions (:mod:`harness.stats`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from harness import atomic, faults
from harness.errors import HarnessError
from harness.offline import configure

configure()

from mteb.results import TaskResult  # noqa: E402

log = logging.getLogger(__name__)
# Version of the leaderboard and deltas schemas (bump with any change; golden files in tests/golden/).
# 2: deltas gained ci_low, ci_high, p_value, p_holm, p_method, n_bootstrap, n_permutations and baseline "format".
SCHEMA_VERSION = 2
PREDICTIONS_SCHEMA_VERSION = 1  # the per-cell predictions parquet (written by the runner)
BASELINE = "none"
FORMAT_BASELINE = "format"  # second baseline, for models whose `format` condition adds prefixes
SCORE_CHECK_TOLERANCE = 1e-5  # recomputed vs mteb's stored score (mteb rounds retrieval metrics to 5 decimals)

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
        ("n_items", pa.int64()),  # items the statistics resampled (else the leaderboard's count)
        # Paired statistics of the delta (main metric rows only; null elsewhere), see harness/stats.py:
        ("ci_low", pa.float64()),  # paired bootstrap 95% percentile interval of the delta
        ("ci_high", pa.float64()),
        ("p_value", pa.float64()),  # two-sided paired permutation test
        ("p_holm", pa.float64()),  # Holm-adjusted across every delta of the grid that has a p-value
        ("p_method", pa.string()),  # "permutation" (Monte Carlo), "exact" (all 2^n swaps) or "identical inputs"
        ("n_bootstrap", pa.int64()),
        ("n_permutations", pa.int64()),
    ]
)
IDENTICAL = "identical inputs"  # p_method of a delta between two conditions that fed the model the same strings
STATS_COLUMNS = ["ci_low", "ci_high", "p_value", "p_holm", "p_method", "n_bootstrap", "n_permutations"]


def _scalars(scores: Mapping[str, Any]) -> dict[str, float]:
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


def _against(board: pd.DataFrame, baseline: str, others: pd.DataFrame) -> pd.DataFrame:
    base = board[board.condition == baseline][[*DELTA_KEYS, "score", "instruction_sha256"]].rename(
        columns={"score": "baseline_score", "instruction_sha256": "baseline_sha256"})
    df = others.merge(base, on=DELTA_KEYS, how="inner")
    df["baseline"] = baseline
    return df


def _format_has_prefixes(board: pd.DataFrame) -> pd.DataFrame:
    """(model, revision, task) whose `format` cell adds prefixes: its instruction hash differs from `none`'s
    (the same exact strings hash the same), or `none` is absent."""
    keys = ["model", "revision", "task"]
    sha = board[["condition", *keys, "instruction_sha256"]].drop_duplicates()
    fmt = sha[sha.condition == FORMAT_BASELINE].drop(columns="condition")
    none = sha[sha.condition == BASELINE].drop(columns="condition")
    both = fmt.merge(none, on=keys, how="left", suffixes=("", "_none"))
    return both[both.instruction_sha256 != both.instruction_sha256_none][keys]


def deltas(board: pd.DataFrame, results_dir: Path | None = None, *, n_bootstrap: int | None = None,
           n_permutations: int | None = None) -> pd.DataFrame:
    """Score under each condition minus the score under ``none`` (same keys), and, where a model's ``format``
    condition adds prefixes, minus the score under ``format`` (conditions other than none/format).

    With ``results_dir``, each main-metric delta gets paired statistics recomputed from the cells' item-level
    predictions (:mod:`harness.stats`); p-values are Holm-adjusted across the whole grid."""
    frames = [_against(board, BASELINE, board[board.condition != BASELINE])]
    with_prefixes = _format_has_prefixes(board)
    if not with_prefixes.empty:
        others = board[~board.condition.isin([BASELINE, FORMAT_BASELINE])].merge(with_prefixes)
        frames.append(_against(board, FORMAT_BASELINE, others))
    df = pd.concat(frames, ignore_index=True)
    df["delta"] = df["score"] - df["baseline_score"]
    df["schema_version"] = SCHEMA_VERSION
    for col in STATS_COLUMNS:
        df[col] = None
    if results_dir is not None and not df.empty:
        _add_stats(df, results_dir, n_bootstrap=n_bootstrap, n_permutations=n_permutations)
    df = df.astype({"ci_low": "float64", "ci_high": "float64", "p_value": "float64", "p_holm": "float64",
                    "n_items": "Int64", "n_bootstrap": "Int64", "n_permutations": "Int64"})
    return df[DELTAS_SCHEMA.names].sort_values([*DELTA_KEYS, "baseline", "condition"], ignore_index=True)


def _prediction_files(results_dir: Path) -> dict[tuple[str, str, str, str], Path]:
    """(model, revision, condition, task) → the cell's predictions parquet, from the sidecars on disk."""
    out = {}
    for sidecar in sorted((results_dir / "cells").glob("*/*/*/*.json")):
        side = json.loads(sidecar.read_text(encoding="utf-8"))
        if side.get("predictions_file"):
            out[(side["model"], side["revision"], side["condition"], side["task"])] = (
                results_dir / side["predictions_file"])
    return out


def _add_stats(df: pd.DataFrame, results_dir: Path, *, n_bootstrap: int | None, n_permutations: int | None
               ) -> None:
    from harness import stats

    files = _prediction_files(results_dir)
    loaded: dict[Path, pd.DataFrame | None] = {}

    def items(model: str, revision: str, condition: str, task: str, subset: str, split: str) -> pd.DataFrame | None:
        path = files.get((model, revision, condition, task))
        if path is None:
            return None
        if path not in loaded:
            try:
                loaded[path] = pd.read_parquet(path)
            except Exception as e:
                log.warning("%s: unreadable predictions (%s); its deltas get no interval", path, e)
                loaded[path] = None
        frame = loaded[path]
        return None if frame is None else frame[(frame.subset == subset) & (frame.split == split)]

    settings = {"n_bootstrap": n_bootstrap or stats.N_BOOTSTRAP,
                "n_permutations": n_permutations or stats.N_PERMUTATIONS}
    for i, r in df[(df.kind == "mteb") & df.is_main].iterrows():
        if stats.metric_for(r.task_type, r.metric) is None:
            continue
        if r.instruction_sha256 == r.baseline_sha256:
            # The same exact strings reached the model (e.g. `format` of a model without prefixes): the delta is 0
            # by construction, not an observation; no p-value, and it stays out of the Holm family.
            df.loc[i, ["ci_low", "ci_high", "p_method"]] = [0.0, 0.0, IDENTICAL]
            continue
        a = items(r.model, r.revision, r.condition, r.task, r.subset, r.split)
        b = items(r.model, r.revision, r.baseline, r.task, r.subset, r.split)
        label = f"{r.alias}/{r.task}/{r.subset}/{r.split} {r.condition}−{r.baseline}"
        if a is None or b is None or a.empty or b.empty:
            log.warning("%s: no item-level predictions; no interval (rerun the cells)", label)
            continue
        # The statistics are only about mteb's number if the recomputation reproduces it on the full set.
        checks = [(stats.recompute(r.task_type, r.metric, f), s) for f, s in ((a, r.score), (b, r.baseline_score))]
        if any(got is None or abs(got - want) > SCORE_CHECK_TOLERANCE for got, want in checks):
            log.warning("%s: %s recomputed from predictions (%s) differs from mteb's (%s); no interval", label,
                        r.metric, [c[0] for c in checks], [c[1] for c in checks])
            continue
        seed = stats.seed_for(r.model, r.revision, r.task, r.subset, r.split, r.metric, r.condition, r.baseline)
        try:
            st = stats.delta_stats(r.task_type, r.metric, a, b, seed=seed, **settings)
        except ValueError as e:
            log.warning("%s: %s; no interval", label, e)
            continue
        if st is None:
            continue
        df.loc[i, ["ci_low", "ci_high", "p_value", "p_method", "n_bootstrap", "n_permutations", "n_items"]] = [
            st.ci_low, st.ci_high, st.p_value, st.p_method, st.n_bootstrap, st.n_permutations, st.n_items]
    has_p = df.p_value.notna()
    if has_p.any():
        df.loc[has_p, "p_holm"] = stats.holm(df.loc[has_p, "p_value"].astype(float).to_numpy())


def write_parquet(df: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    import pyarrow.parquet as pq

    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))


def aggregate(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild ``leaderboard.parquet`` and ``deltas.parquet`` from the cells on disk."""
    atomic.remove_orphans(results_dir)
    board = leaderboard(results_dir)
    if board.empty:
        raise HarnessError(f"{results_dir}: no results to aggregate; run `harness run` first")
    d = deltas(board, results_dir)
    write_parquet(board, LEADERBOARD_SCHEMA, results_dir / "leaderboard.parquet")
    faults.checkpoint("aggregate")
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


def fmt_p(p: float | None) -> str:
    if p is None or pd.isna(p):
        return "—"
    return f"{p:.4f}" if p >= 0.0001 else f"{p:.1e}"


def delta_ci_table(d: pd.DataFrame, *, alpha: float = 0.05) -> str:
    """Main-metric deltas with their paired-bootstrap 95% CI, permutation p and Holm-adjusted p (``*``: Holm p
    below ``alpha``)."""
    main = d[(d.kind == "mteb") & d.is_main]
    if main.empty:
        return "(no deltas: a condition and its baseline are both needed)"
    lines = [f"{'model':<16} {'task':<30} {'subset':<10} {'metric':<16} {'Δ condition − baseline':<24} "
             f"{'Δ':>8} {'95% CI':>20} {'p':>8} {'p Holm':>8}  {'n':>5}"]
    for r in main.sort_values(["alias", "task", "subset", "baseline", "condition"]).itertuples():
        ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "—"
        ci = "identical inputs" if r.p_method == IDENTICAL else ci
        star = "*" if pd.notna(r.p_holm) and r.p_holm < alpha else " "
        n = "" if pd.isna(r.n_items) else int(r.n_items)
        lines.append(f"{r.alias:<16} {r.task:<30} {r.subset:<10} {r.metric:<16} "
                     f"{r.condition + ' − ' + r.baseline:<24} {r.delta:>+8.4f} {ci:>20} {fmt_p(r.p_value):>8} "
                     f"{fmt_p(r.p_holm):>8}{star} {n:>5}")
    family = int(main.p_value.notna().sum())
    lines.append(f"(95% CI: paired bootstrap; p: paired permutation test (smallest possible 1/(1 + swaps)); Holm "
                 f"across all {family} deltas with a p-value; * Holm p < {alpha}; identical inputs: both conditions "
                 "fed the model the same strings)")
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
