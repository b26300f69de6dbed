"""Family summaries: tasks that declare the same ``family`` (the seven ``Scale*`` tasks: ``family: scales``) summarised
together per model × subset view × condition — ``family.parquet`` (:data:`harness.results.schema.FAMILY_SCHEMA`).

For each condition: the mean main score over the family's tasks, its delta against ``none``, and 95% intervals that
resample *within each task* along the task's own resampling unit (the words of a word-pair task: the vertex
bootstrap of :mod:`harness.analysis.stats`, its spread corrected to the word jackknife variance), independently
across tasks. The tasks themselves are not resampled: seven hand-chosen scales are the population the summary is
about (a "fixed effects" view); with so few tasks a between-task bootstrap would be too coarse to mean much, so the
interval says how firm the mean is given these scales, not how it would move with other scales. The per-task
spread of the deltas is reported beside it (``delta_sd_tasks``) so a reader can see how much the scales differ.

Each task's part of a row (its scores and bootstrap replicates against ``none``) is cached in the statistics cache
(:mod:`harness.analysis.stats_cache`) by its two predictions files, view, metric, unit, resamples and seed: on a
grid with many conditions these replicates were most of ``harness aggregate``'s time, recomputed on every run.

Also the origin-style claim per task (cosine(w, control) > cosine(w, opposite), the ``claim:`` probe rows): how
many tasks' claims hold under each condition and how many flip relative to ``none``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import stats, stats_cache
from harness.analysis.bootstrap import (
    CONFIDENCE,
    bootstrap_deltas,
    bootstrap_scores,
    score_variance,
    text_variance,
)
from harness.core.atomic import file_sha256
from harness.prompts.conditions import BASELINE
from harness.results import layout
from harness.results.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)


@dataclass
class _Cell:
    """One task's predictions under one condition, with what the statistics need."""

    task: str
    frame: pd.DataFrame
    metric: str
    unit: str | None
    sha256: str  # of the predictions file: what the statistics cache keys a task's contribution by


def _cells(results_dir: Path) -> dict[tuple[str, str, str], dict[str, dict[str, _Cell]]]:
    """(model, revision, family) → {condition: {task: cell}} for every cell whose sidecar names a family."""
    out: dict[tuple[str, str, str], dict[str, dict[str, _Cell]]] = {}
    for _, side in layout.sidecars(results_dir):
        family = side.get("family")
        if not family or not side.get("predictions_file"):
            continue
        path = results_dir / side["predictions_file"]
        try:
            frame = pd.read_parquet(path)
            sha = file_sha256(path)  # the bytes read, as the deltas' cache keys them (not the sidecar's pin)
        except Exception as e:
            log.warning("%s: unreadable predictions (%s); left out of the %s family", side["predictions_file"], e,
                        family)
            continue
        cell = _Cell(side["task"], frame, side["main_score"], side.get("resample_unit"), sha)
        out.setdefault((side["model"], side["revision"], family), {}).setdefault(side["condition"], {})[
            side["task"]] = cell
    return out


def _interval(observed: float, replicates: np.ndarray, target: float | None, confidence: float
              ) -> tuple[float, float]:
    """The percentile interval of ``replicates``, its deviations from ``observed`` rescaled to ``target`` variance
    where one is given (as :func:`harness.analysis.bootstrap.bootstrap_interval` does for one task)."""
    boot = replicates[~np.isnan(replicates)]
    if len(boot) < 2:
        return np.nan, np.nan
    alpha = (1 - confidence) / 2
    lo, hi = (float(q) for q in np.quantile(boot, [alpha, 1 - alpha]))
    spread = float(boot.var())
    if target is None or spread <= 0:
        return lo, hi
    f = float(np.sqrt(target / spread))
    return observed + f * (lo - observed), observed + f * (hi - observed)


def _columns(cell: _Cell, subset: str, split: str, other: _Cell | None = None
             ) -> tuple[Any, stats.Metric, stats.Columns, stats.Columns | None, stats.Units] | None:
    """Aligned item columns (and the baseline's), the metric and the resampling units of one task's subset."""
    metric = stats.metric_for("STS", cell.metric)
    a = cell.frame[(cell.frame.subset == subset) & (cell.frame.split == split)]
    if metric is None or a.empty:
        return None
    b = a if other is None else other.frame[(other.frame.subset == subset) & (other.frame.split == split)]
    if b.empty:
        return None
    ca, cb, items = stats.aligned_items("STS", cell.metric, a, b)
    texts = stats.aligned_texts(items, a, b)
    units = stats.resample_units("STS", len(items), unit=cell.unit, text1=None if texts is None else texts[0],
                                 text2=None if texts is None else texts[1])
    return items, metric, ca, (None if other is None else cb), units


def _claims(board: pd.DataFrame) -> pd.DataFrame:
    """Claim verdicts (1/0) per model, revision, task and condition, from the leaderboard's probe rows."""
    rows = board[(board.kind == "probe") & board.metric.str.startswith("claim:")]
    return rows.groupby(["model", "revision", "task", "condition"]).score.min().reset_index()  # all claims hold


def summarise(results_dir: Path, board: pd.DataFrame, *, n_bootstrap: int | None = None,
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The family table (see the module docstring); empty when no cell belongs to a family."""
    n_bootstrap = n_bootstrap or stats.N_BOOTSTRAP
    claims = _claims(board)
    meta = board.drop_duplicates(["model", "revision"]).set_index(["model", "revision"]).alias
    rows: list[dict[str, Any]] = []
    with stats_cache.StatsCache() as cache:
        for key, by_condition in sorted(_cells(results_dir).items()):
            rows += _family_rows(key, by_condition, claims, meta, cache, n_bootstrap, confidence)
        if cache.hits or cache.misses:
            log.info("statistics cache (family): %d task contributions reused, %d computed", cache.hits, cache.misses)
    from harness.results.schema import FAMILY_SCHEMA

    df = pd.DataFrame(rows, columns=FAMILY_SCHEMA.names)
    return df.astype({"n_tasks": "int64", "claims_hold": "int64", "n_claims": "int64", "claims_flipped": "int64",
                      "n_bootstrap": "int64"})


def _family_rows(key: tuple[str, str, str], by_condition: dict[str, dict[str, _Cell]], claims: pd.DataFrame,
                 meta: pd.Series, cache: stats_cache.StatsCache, n_bootstrap: int, confidence: float
                 ) -> list[dict[str, Any]]:
    model, revision, family = key
    rows: list[dict[str, Any]] = []
    base = by_condition.get(BASELINE, {})
    views = sorted({(str(s), str(sp)) for c in base.values() for s, sp in
                    c.frame[["subset", "split"]].drop_duplicates().itertuples(index=False)})
    for condition, cells in sorted(by_condition.items()):
        tasks = sorted(t for t in cells if t in base)
        for subset, split in views:
            row = _summary_row(cells, base, tasks, subset, split, model, revision, family, condition,
                               n_bootstrap, confidence, cache)
            if row is None:
                continue
            verdict = claims[(claims.model == model) & (claims.revision == revision)
                             & claims.task.isin(row["tasks"].split(","))]
            now = verdict[verdict.condition == condition].set_index("task").score
            then = verdict[verdict.condition == BASELINE].set_index("task").score
            both = now.index.intersection(then.index)
            rows.append(row | {
                "alias": str(meta.get((model, revision), model)),
                "claims_hold": int((now == 1).sum()), "n_claims": len(now),
                "claims_flipped": int((now[both] != then[both]).sum()) if condition != BASELINE else 0,
            })
    return rows


def _contribution(cell: _Cell, other: _Cell, subset: str, split: str, seed: int, n_bootstrap: int
                  ) -> dict[str, np.ndarray] | None:
    """One task's part of a family row: its score and its baseline's, their bootstrap replicates (score, delta),
    the variance targets and the resampling unit used; None when the task has no items in this view."""
    got = _columns(cell, subset, split, other)
    if got is None:
        return None
    _, metric, a, b, units = got
    assert b is not None
    r1, r2 = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    one = {k: v[None, :] for k, v in a.items()}
    two = {k: v[None, :] for k, v in b.items()}
    sb = bootstrap_scores(metric, a, n_bootstrap, r1, units=units)
    db = bootstrap_deltas(metric, a, b, n_bootstrap, r2, units=units)
    return {"score": np.asarray(float(metric.score(one)[0])), "baseline_score": np.asarray(float(metric.score(two)[0])),
            "score_boot": sb, "delta_boot": db,
            "score_var": np.asarray(score_variance(metric, a, units) or float(np.nanvar(sb))),
            "delta_var": np.asarray(text_variance(metric, a, b, units) or float(np.nanvar(db))),
            "unit": np.asarray(units.kind), "n_units": np.asarray(units.n_units)}


def _summary_row(cells: dict[str, _Cell], base: dict[str, _Cell], tasks: list[str], subset: str, split: str,
                 model: str, revision: str, family: str, condition: str, n_bootstrap: int, confidence: float,
                 cache: stats_cache.StatsCache) -> dict[str, Any] | None:
    scores, deltas, score_boot, delta_boot, score_var, delta_var, used = [], [], [], [], [], [], []
    for task in tasks:
        cell, other = cells[task], base[task]
        seed = stats.seed_for(model, revision, family, task, subset, split, condition, "family")
        ck = stats_cache.family_key(a_sha256=cell.sha256, b_sha256=other.sha256, subset=subset, split=split,
                                    metric=cell.metric, unit=cell.unit, n_bootstrap=n_bootstrap, seed=seed)
        got = cache.get_arrays(ck)
        if got is None:
            got = _contribution(cell, other, subset, split, seed, n_bootstrap)
            if got is None:
                continue
            cache.put_arrays(ck, got)
        scores.append(float(got["score"]))
        deltas.append(float(got["score"]) - float(got["baseline_score"]))
        score_boot.append(got["score_boot"])
        delta_boot.append(got["delta_boot"])
        score_var.append(float(got["score_var"]))
        delta_var.append(float(got["delta_var"]))
        used.append((task, str(got["unit"]), int(got["n_units"])))
    if not used:
        return None
    k = len(used)
    mean_score, mean_delta = float(np.mean(scores)), float(np.mean(deltas))
    s_lo, s_hi = _interval(mean_score, np.mean(score_boot, axis=0), float(np.sum(score_var)) / k**2, confidence)
    d_lo, d_hi = _interval(mean_delta, np.mean(delta_boot, axis=0), float(np.sum(delta_var)) / k**2, confidence)
    if condition == BASELINE:
        d_lo = d_hi = 0.0
    units_used = sorted({u for _, u, _ in used})
    return {
        "schema_version": SCHEMA_VERSION, "family": family, "model": model, "revision": revision,
        "subset": subset, "split": split, "condition": condition, "baseline": BASELINE, "n_tasks": k,
        "tasks": ",".join(t for t, _, _ in used), "mean_score": mean_score, "score_ci_low": s_lo,
        "score_ci_high": s_hi, "delta": mean_delta, "delta_ci_low": d_lo, "delta_ci_high": d_hi,
        "delta_sd_tasks": float(np.std(deltas, ddof=1)) if k > 1 else np.nan,
        "resample_unit": "/".join(units_used) + " within each task", "n_bootstrap": n_bootstrap,
    }
