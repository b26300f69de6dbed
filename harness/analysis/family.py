"""Family summaries: tasks that declare the same ``family`` (the seven ``Scale*`` tasks: ``family: scales``) summarised
together per model × subset view × condition — ``family.parquet`` (:data:`harness.results.schema.FAMILY_SCHEMA`).

For each condition: the mean main score over the family's tasks, its delta against ``none``, and 95% intervals that
resample each task along its own resampling unit (the words of a word-pair task: the vertex bootstrap of
:mod:`harness.stats.engine`). **Texts that several tasks share** (all Scale tasks pair their scale words with the
same 14 control words) are one population: each replicate draws the union of the tasks' recurring texts once, with
replacement, and a shared text carries its count into every task that has it (:func:`replicates`); items without a
recurring text and tasks without the text unit are drawn per task. Drawing the shared words independently per task,
as before, ignored that a word's effect moves every task at once: the intervals were too narrow (simulated in
tests/test_family_joint.py: coverage below nominal where the joint draw covers 93–97%). The spread of each task's
replicates is corrected to its own word-jackknife variance before the mean is taken (:func:`mean_interval`), so
the between-task covariance that the joint draw induces is kept. The tasks themselves are not resampled: seven
hand-chosen scales are the population the summary is about (a "fixed effects" view); the per-task spread of the
deltas is reported beside it (``delta_sd_tasks``).

Each row's replicates are cached in the statistics cache (:mod:`harness.stats.stats_cache`) by its tasks'
predictions files, view, metrics, units, resamples and seed.

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

from harness.core.atomic import file_sha256
from harness.prompts.conditions import BASELINE
from harness.results import layout, trust
from harness.results.schema import SCHEMA_VERSION
from harness.stats import engine, pool, stats_cache
from harness.stats.bootstrap import CONFIDENCE, RankMemo, score_variance, text_variance, weighted_score_delta
from harness.stats.metrics import multiplicities, spearman_from_ranks
from harness.stats.units import chunk_sizes, recurring_texts, resample_weights, shared_weights

log = logging.getLogger(__name__)


@dataclass
class _Cell:
    """One task's predictions under one condition, with what the statistics need. ``frame`` is read on first use
    (from ``path``) when the cell came with its ``views``: a warm family summary reads no predictions."""

    task: str
    loaded: pd.DataFrame | None
    metric: str
    unit: str | None
    sha256: str  # of the predictions file: what the statistics cache keys a task's contribution by
    path: Path | None = None
    views: list[tuple[str, str]] | None = None  # its (subset, split) pairs

    @property
    def frame(self) -> pd.DataFrame:
        if self.loaded is None:
            assert self.path is not None
            self.loaded = pd.read_parquet(self.path)
        return self.loaded

    def subset_splits(self) -> list[tuple[str, str]]:
        if self.views is None:
            self.views = [(str(s), str(sp)) for s, sp in
                          self.frame[["subset", "split"]].drop_duplicates().itertuples(index=False)]
        return self.views


def _views_key(sha: str) -> str:
    import hashlib

    return hashlib.sha256(f"{stats_cache.METHOD_VERSION}\x1ffamily views\x1f{sha}".encode()).hexdigest()


def _cells(results_dir: Path, kept: set[tuple[str, str, str, str]] | None = None,
           cache: stats_cache.StatsCache | None = None) -> dict[tuple[str, str, str], dict[str, dict[str, _Cell]]]:
    """(model, revision, family) → {condition: {task: cell}} for every cell whose sidecar names a family (and that
    is in ``kept``, the leaderboard's cells, when given: stale and unreadable cells are left out)."""
    out: dict[tuple[str, str, str], dict[str, dict[str, _Cell]]] = {}
    for _, side in layout.sidecars(results_dir):
        family = side.get("family")
        if not family or not side.get("predictions_file"):
            continue
        if kept is not None and (side["model"], side["revision"], side["condition"], side["task"]) not in kept:
            continue
        path = trust.cell_path(results_dir, side, "predictions_file")  # inside the folder, no link
        try:
            sha = file_sha256(path)  # the bytes read, as the deltas' cache keys them (not the sidecar's pin)
            seen = cache.get_json(_views_key(sha)) if cache is not None else None  # read before: these bytes load
            frame = None if seen is not None else pd.read_parquet(path)
        except Exception as e:
            log.warning("%s: unreadable predictions (%s); left out of the %s family", side["predictions_file"], e,
                        family)
            continue
        cell = _Cell(side["task"], frame, side["main_score"], side.get("resample_unit"), sha, path,
                     None if seen is None else [(str(a), str(b)) for a, b in seen])
        if seen is None and cache is not None:
            cache.put_json(_views_key(sha), cell.subset_splits())
        out.setdefault((side["model"], side["revision"], family), {}).setdefault(side["condition"], {})[
            side["task"]] = cell
    return out


@dataclass(frozen=True)
class Part:
    """One task's part of a family row: its two conditions' aligned columns, units, the names of its recurring
    texts (None without), and the variance targets of its score and delta (the jackknife spreads)."""

    metric: engine.Metric
    a: engine.Columns
    b: engine.Columns
    units: engine.Units
    texts: np.ndarray | None
    score_var: float
    delta_var: float


def replicates(parts: list[Part], n_bootstrap: int, rng: np.random.Generator, *, joint: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """(score, delta) replicates, each (n_bootstrap, tasks). ``joint``: a text that several tasks share (the
    same string) is drawn once per replicate and carries that count in every task (the union of the tasks'
    recurring texts is resampled as one population); items without a recurring text, and tasks without the text
    unit, are drawn per task. Not joint: every task's units drawn independently (the old scheme)."""
    return shared_replicates([parts], n_bootstrap, rng, joint=joint)[0]


def draw_signature(parts: list[Part]) -> tuple[Any, ...]:
    """What :func:`replicates` draws from ``parts`` depends on (units and recurring texts, task by task): rows
    with the same signature get the same resamples from the same seed."""
    return tuple((p.units.kind, p.units.n_items, p.units.n_texts, p.units.n_lone,
                  None if p.units.ends is None else p.units.ends.tobytes(),
                  None if p.texts is None else tuple(str(t) for t in p.texts)) for p in parts)


def shared_replicates(rows: list[list[Part]], n_bootstrap: int, rng: np.random.Generator, *, joint: bool = True
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`replicates` of several family rows (the conditions of one model × family × view, all of one
    :func:`draw_signature`) on one set of resamples: each row's replicates equal bit for bit what
    :func:`replicates` gives it alone from the same ``rng`` state; the weights, and the ranks of a column that
    several rows share (the gold, the baseline's predictions), are computed once."""
    first = rows[0]
    assert all(draw_signature(r) == draw_signature(first) for r in rows[1:])
    k = len(first)
    out = [(np.empty((n_bootstrap, k)), np.empty((n_bootstrap, k))) for _ in rows]
    union = sorted({str(t) for p in first if p.texts is not None for t in p.texts}) if joint else []
    where = {t: i for i, t in enumerate(union)}
    index = [None if p.texts is None or not joint else np.array([where[str(t)] for t in p.texts]) for p in first]
    widest = max(p.units.n_items for p in first)
    done = 0
    for size in chunk_sizes(n_bootstrap, widest * k):
        counts = multiplicities(rng.integers(0, len(union), size=(size, len(union))), len(union)) if union else None
        for j, (p, idx) in enumerate(zip(first, index, strict=True)):
            if idx is not None and counts is not None and p.units.ends is not None:
                w = shared_weights(p.units, counts[:, idx], rng)
            else:
                w = resample_weights(p.units, size, rng)
            ranks = RankMemo(w) if p.metric.family == "spearman" else None
            for (score, delta), row in zip(out, rows, strict=True):
                q = row[j]
                if ranks is None:
                    score[done:done + size, j], delta[done:done + size, j] = weighted_score_delta(q.metric, q.a,
                                                                                                  q.b, w)
                    continue
                rg = ranks(q.a["gold"])
                got = spearman_from_ranks(rg, ranks(q.a["pred"]), w)
                score[done:done + size, j] = got
                delta[done:done + size, j] = got - spearman_from_ranks(rg, ranks(q.b["pred"]), w)
        done += size
    return out


def mean_interval(observed: np.ndarray, boot: np.ndarray, targets: np.ndarray, confidence: float
                  ) -> tuple[float, float]:
    """The percentile interval of the mean over tasks, its deviations from the observed mean rescaled to the
    variance V = (Σ_t V_t + Σ_{t≠s} C_ts) / k²: each task's own word-jackknife variance V_t (the correction of
    :func:`harness.stats.bootstrap.bootstrap_interval`; the replicates' variance where a task has none) and
    the replicates' covariance C_ts between tasks, which only the words they share create (pair noise is per task,
    so the vertex bootstrap's over-count of pair-level variance does not enter it)."""
    ok = ~np.isnan(boot).any(axis=1)
    b = boot[ok]
    if len(b) < 2:
        return np.nan, np.nan
    k = b.shape[1]
    cov = np.atleast_2d(np.cov(b, rowvar=False, ddof=0))
    own = np.where(np.isnan(targets), np.diag(cov), targets)
    target = (own.sum() + cov.sum() - np.trace(cov)) / k**2
    mean = b.mean(axis=1)
    spread = float(mean.var())
    alpha = (1 - confidence) / 2
    lo, hi = (float(q) for q in np.quantile(mean, [alpha, 1 - alpha]))
    if spread <= 0 or target <= 0:
        return lo, hi
    centre = float(observed.mean())
    f = float(np.sqrt(target / spread))
    return centre + f * (lo - centre), centre + f * (hi - centre)


def _columns(cell: _Cell, subset: str, split: str, other: _Cell | None = None
             ) -> tuple[Any, engine.Metric, engine.Columns, engine.Columns | None, engine.Units] | None:
    """Aligned item columns (and the baseline's), the metric and the resampling units of one task's subset."""
    metric = engine.metric_for("STS", cell.metric)
    a = cell.frame[(cell.frame.subset == subset) & (cell.frame.split == split)]
    if metric is None or a.empty:
        return None
    b = a if other is None else other.frame[(other.frame.subset == subset) & (other.frame.split == split)]
    if b.empty:
        return None
    ca, cb, items = engine.aligned_items("STS", cell.metric, a, b)
    texts = engine.aligned_texts(items, a, b)
    units = engine.resample_units("STS", len(items), unit=cell.unit, text1=None if texts is None else texts[0],
                                 text2=None if texts is None else texts[1])
    return items, metric, ca, (None if other is None else cb), units


def _claims(board: pd.DataFrame) -> pd.DataFrame:
    """Claim verdicts (1/0) per model, revision, task and condition, from the leaderboard's probe rows."""
    rows = board[(board.kind == "probe") & board.metric.str.startswith("claim:")]
    return rows.groupby(["model", "revision", "task", "condition"]).score.min().reset_index()  # all claims hold


def summarise(results_dir: Path, board: pd.DataFrame, *, n_bootstrap: int | None = None,
              confidence: float = CONFIDENCE, joint: bool = True, workers: int | None = None) -> pd.DataFrame:
    """The family table (see the module docstring); empty when no cell belongs to a family. ``joint=False``: the
    old scheme (every task's texts drawn independently), kept to measure what the joint draw changes. The task
    contributions not in the statistics cache are computed first, all at once, by
    :func:`harness.stats.pool.map_jobs` (in the statistics pool; each from its own seed, so the same whatever
    the workers), then the rows are built from the cache."""
    n_bootstrap = n_bootstrap or engine.N_BOOTSTRAP
    claims = _claims(board)
    meta = board.drop_duplicates(["model", "revision"]).set_index(["model", "revision"]).alias
    rows: list[dict[str, Any]] = []
    kept = set(zip(board.model, board.revision, board.condition, board.task, strict=True))  # not left out
    with stats_cache.StatsCache() as cache:
        cells = sorted(_cells(results_dir, kept, cache).items())
        todo: dict[str, tuple[Any, ...]] = {}  # the cache's misses, computed at once (in the statistics pool)
        done: dict[str, dict[str, np.ndarray] | None] = {}  # every contribution, read or computed
        for key, by_condition in cells:
            _family_rows(key, by_condition, claims, meta, cache, n_bootstrap, confidence, joint, todo=todo,
                         done=done)
        if todo:
            from harness.core import timers

            views: dict[tuple[Any, ...], list[str]] = {}  # one job per view: its conditions share the resamples
            for ck, job in todo.items():
                views.setdefault(tuple(job[1:]), []).append(ck)
            jobs = [([todo[ck][0] for ck in cks], *view) for view, cks in views.items()]
            with timers.timed(engine.FAMILY_TIMER):
                computed = pool.map_jobs(_contributions_job, jobs, workers=workers, timer=engine.FAMILY_TIMER,
                                         cost=lambda j: sum(len(tasks) for tasks in j[0]))  # its task deltas
            for cks, gots in zip(views.values(), computed, strict=True):
                for ck, got in zip(cks, gots, strict=True):
                    done[ck] = got
                    if got is not None:
                        cache.put_arrays(ck, got)
        for key, by_condition in cells:
            rows += _family_rows(key, by_condition, claims, meta, cache, n_bootstrap, confidence, joint, done=done)
        if cache.hits or cache.misses:
            log.info("statistics cache (family): %d task contributions reused, %d computed", cache.hits, cache.misses)
    from harness.results.schema import FAMILY_SCHEMA

    df = pd.DataFrame(rows, columns=FAMILY_SCHEMA.names)
    return df.astype({"n_tasks": "int64", "claims_hold": "int64", "n_claims": "int64", "claims_flipped": "int64",
                      "n_bootstrap": "int64"})


def _family_rows(key: tuple[str, str, str], by_condition: dict[str, dict[str, _Cell]], claims: pd.DataFrame,
                 meta: pd.Series, cache: stats_cache.StatsCache, n_bootstrap: int, confidence: float,
                 joint: bool = True, todo: dict[str, tuple[Any, ...]] | None = None,
                 done: dict[str, dict[str, np.ndarray] | None] | None = None) -> list[dict[str, Any]]:
    """The rows of one model × family. Two passes (:func:`summarise`): with ``todo``, only collects the cache's
    hits in ``done`` and its misses (key → job) in ``todo``, and returns nothing; then with ``done`` alone
    (every contribution by key), the rows."""
    model, revision, family = key
    rows: list[dict[str, Any]] = []
    base = by_condition.get(BASELINE, {})
    views = sorted({v for c in base.values() for v in c.subset_splits()})
    for condition, cells in sorted(by_condition.items()):
        tasks = sorted(t for t in cells if t in base)
        for subset, split in views:
            row = _summary_row(cells, base, tasks, subset, split, model, revision, family, condition,
                               n_bootstrap, confidence, cache, joint=joint, todo=todo, done=done)
            if row is None or todo is not None:
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


def _part(cell: _Cell, other: _Cell, subset: str, split: str) -> Part | None:
    """One task's :class:`Part` of a family row; None when the task has no items in this view."""
    got = _columns(cell, subset, split, other)
    if got is None:
        return None
    items, metric, a, b, units = got
    assert b is not None
    texts = None
    if units.ends is not None:
        frame = cell.frame[(cell.frame.subset == subset) & (cell.frame.split == split)]
        t = engine.aligned_texts(items, frame, frame)
        texts = None if t is None else recurring_texts(t[0], t[1])
    return Part(metric, a, b, units, texts, float(score_variance(metric, a, units) or np.nan),
                float(text_variance(metric, a, b, units) or np.nan))


def _summary_row(cells: dict[str, _Cell], base: dict[str, _Cell], tasks: list[str], subset: str, split: str,
                 model: str, revision: str, family: str, condition: str, n_bootstrap: int, confidence: float,
                 cache: stats_cache.StatsCache, *, joint: bool = True, todo: dict[str, tuple[Any, ...]] | None = None,
                 done: dict[str, dict[str, np.ndarray] | None] | None = None) -> dict[str, Any] | None:
    # One seed per model × family × view (not per condition): its condition rows share one resample
    # (shared_replicates), and a row's numbers depend on its own cells and this seed alone.
    seed = engine.seed_for(model, revision, family, subset, split, "family-shared" if joint else "family-shared-indep")
    present = [t for t in tasks if t in cells and t in base]
    ck = stats_cache.family_key(a_sha256="|".join(f"{t}:{cells[t].sha256}" for t in present),
                                b_sha256="|".join(base[t].sha256 for t in present), subset=subset, split=split,
                                metric=",".join(sorted({cells[t].metric for t in present})),
                                unit=",".join(str(cells[t].unit) for t in present), n_bootstrap=n_bootstrap,
                                seed=seed)
    if done is not None and todo is None:  # the second pass: every contribution is in `done`
        got = done.get(ck)
        if got is None:
            return None
    else:
        got = cache.get_arrays(ck)
        if got is not None and done is not None:
            done[ck] = got
    if got is None:
        job = ([(t, _sliced(cells[t], subset, split), _sliced(base[t], subset, split)) for t in present], subset,
               split, n_bootstrap, seed, joint)
        if todo is not None:
            todo[ck] = job
    if todo is not None:
        return None
    if got is None:
        got = _contribution(*job)
        if got is None:
            return None
        cache.put_arrays(ck, got)
    used = [str(t) for t in got["tasks"]]
    k = len(used)
    scores, deltas = got["score"], got["score"] - got["baseline_score"]
    mean_score, mean_delta = float(np.mean(scores)), float(np.mean(deltas))
    s_lo, s_hi = mean_interval(scores, got["score_boot"], got["score_var"], confidence)
    d_lo, d_hi = mean_interval(deltas, got["delta_boot"], got["delta_var"], confidence)
    if condition == BASELINE:
        d_lo = d_hi = 0.0
    units_used = "/".join(sorted({str(u) for u in got["unit"]}))
    how = " (texts shared by tasks drawn jointly)" if joint and bool(got["shared"]) else " within each task"
    return {
        "schema_version": SCHEMA_VERSION, "family": family, "model": model, "revision": revision,
        "subset": subset, "split": split, "condition": condition, "baseline": BASELINE, "n_tasks": k,
        "tasks": ",".join(used), "mean_score": mean_score, "score_ci_low": s_lo,
        "score_ci_high": s_hi, "delta": mean_delta, "delta_ci_low": d_lo, "delta_ci_high": d_hi,
        "delta_sd_tasks": float(np.std(deltas, ddof=1)) if k > 1 else np.nan,
        "resample_unit": units_used + how, "n_bootstrap": n_bootstrap,
    }


def _sliced(cell: _Cell, subset: str, split: str) -> _Cell:
    """The cell with only one view's predictions (what a worker process is sent)."""
    f = cell.frame
    return _Cell(cell.task, f[(f.subset == subset) & (f.split == split)], cell.metric, cell.unit, cell.sha256)


def _contribution(tasks: list[tuple[str, _Cell, _Cell]], subset: str, split: str, n_bootstrap: int, seed: int,
                  joint: bool) -> dict[str, np.ndarray] | None:
    """The replicates and observed values of one family row's task contributions (what the cache stores)."""
    return _contributions([tasks], subset, split, n_bootstrap, seed, joint)[0]


def _contributions(rows: list[list[tuple[str, _Cell, _Cell]]], subset: str, split: str, n_bootstrap: int,
                   seed: int, joint: bool) -> list[dict[str, np.ndarray] | None]:
    """:func:`_contribution` of several rows of one view (its conditions), in order: rows of one
    :func:`draw_signature` share one set of resamples (:func:`shared_replicates`), each row equal bit for bit to
    its :func:`_contribution` alone."""
    built: list[tuple[list[Part], list[str]] | None] = []
    for tasks in rows:
        parts, used = [], []
        for task, cell, other in tasks:
            part = _part(cell, other, subset, split)
            if part is not None:
                parts.append(part)
                used.append(task)
        built.append((parts, used) if parts else None)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, b in enumerate(built):
        if b is not None:
            groups.setdefault(draw_signature(b[0]), []).append(i)
    out: list[dict[str, np.ndarray] | None] = [None] * len(rows)
    for members in groups.values():
        got = shared_replicates([built[i][0] for i in members], n_bootstrap,  # type: ignore[index]
                                np.random.default_rng(seed), joint=joint)
        for i, (sb, db) in zip(members, got, strict=True):
            parts, used = built[i]  # type: ignore[misc]
            out[i] = _contribution_arrays(parts, used, sb, db)
    return out


def _contribution_arrays(parts: list[Part], used: list[str], sb: np.ndarray, db: np.ndarray
                         ) -> dict[str, np.ndarray]:
    return {"tasks": np.asarray(used, dtype=str),
            "score": np.array([float(p.metric.score({k: v[None, :] for k, v in p.a.items()})[0]) for p in parts]),
            "baseline_score": np.array([float(p.metric.score({k: v[None, :] for k, v in p.b.items()})[0])
                                        for p in parts]),
            "score_boot": sb, "delta_boot": db,
            "score_var": np.array([p.score_var for p in parts]), "delta_var": np.array([p.delta_var for p in parts]),
            "unit": np.asarray([p.units.kind for p in parts], dtype=str),
            "shared": np.asarray(len({str(t) for p in parts if p.texts is not None for t in p.texts})
                                 < sum(len(p.texts) for p in parts if p.texts is not None))}


def _contributions_job(job: tuple[Any, ...]) -> tuple[list[dict[str, np.ndarray] | None], float]:
    """:func:`_contributions` of one view's rows with one BLAS thread, and the CPU seconds it took: a worker
    function."""
    import time

    from threadpoolctl import threadpool_limits

    t0 = time.process_time()
    with threadpool_limits(1):
        got = _contributions(*job)
    return got, time.process_time() - t0
