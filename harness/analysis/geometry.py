"""What an instruction does to the space: shared shift, anisotropy, effective dimensionality and centred scores
per model × condition × task subset, from the embeddings the cells already computed (read from the embedding
cache by the model's identity and the cell's exact input strings; nothing is encoded here).

For each subset the *unit texts* are the texts tied to the task's resampling unit: both texts of an STS pair or a
bitext pair, the queries of a retrieval task (its documents are held fixed, as in the deltas' statistics). Their
distinct vectors X (one row per distinct raw text; the same raw text has the same exact input under one
condition) give:

- ``shift_share`` (not for ``none``): with Δ_j = x_j(condition) − x_j(none), ‖mean Δ‖² / mean ‖Δ‖² — 1 when the
  instruction adds one vector to every text, 0 when the changes cancel on average (e.g. a rotation of centred
  texts);
- ``anisotropy``: the mean cosine over pairs of distinct texts;
- ``participation_ratio``: (Σλ)² / Σλ² of the eigenvalues of the texts' covariance (effective dimensionality);
- ``centred_<main>``: the task's main metric recomputed after removing the condition's own mean embedding (the
  mean of the distinct vectors of every text the subset encodes under it, documents included) from every vector;
  ``centred_pc1_<main>``: the same after also removing the top principal direction of the centred vectors.

Intervals: the task's resampling unit (:func:`harness.stats.units.resample_units`) is drawn with replacement;
a distinct text's weight is the mean multiplicity of the items it occurs in (1 in the observed sample), so every
statistic above is a weighted statistic and each resample is one weight vector (as in :mod:`harness.stats.joint`).
Deltas against ``none`` are paired (the same draws for both conditions). The centred scores' deltas use the deltas'
own machinery on centred predictions (:func:`harness.stats.bootstrap.bootstrap_interval`). A cell whose raw
vectors do not reproduce mteb's score (a cache that lost rows, another model) gets no geometry: it is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.geometry_predictions import SubsetTexts, prediction_frame
from harness.analysis.geometry_stats import (
    anisotropy,
    centre,
    participation_ratio,
    remove_mean,
    shift_share,
    text_weights,
)
from harness.prompts.conditions import BASELINE
from harness.results import layout, trust
from harness.results.embedding_store import read_vectors
from harness.stats import engine, pool
from harness.stats.bootstrap import CONFIDENCE, bootstrap_intervals
from harness.stats.metrics import item_columns, metric_for
from harness.stats.stats_cache import StatsCache, geometry_key, geometry_subsets_key
from harness.stats.units import Units, chunk_sizes, resample_units, resample_weights
from harness.taskspecs.data import checked_tables
from harness.taskspecs.local import LocalTask

log = logging.getLogger(__name__)

KIND = "geometry"
FILE = "geometry.parquet"
N_BOOTSTRAP = 1000
GEOMETRY_TYPES = ("STS", "Retrieval", "BitextMining")  # the types prediction_frame re-derives from vectors
COMPUTED = 0  # cell × subset row sets computed (not read from the cache) by this process: for tests
SCORE_TOLERANCE = 1e-4  # raw vectors vs mteb's score (float32 cosines; mteb rounds retrieval to 5 decimals)
SHAPE = ["anisotropy", "participation_ratio", "shift_share"]
CENTRED = ("centred", "centred_pc1")
COLUMNS = ["model", "alias", "revision", "task", "task_type", "subset", "split", "condition", "metric", "score",
           "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "resample_unit", "n_units", "n_texts",
           "n_bootstrap", "cell_key", "baseline_key"]


def centred_metric(view: str, main: str) -> str:
    return f"{view}_{main}"


# ---------------------------------------------------------------------------------------------- task texts
def task_texts(folder: Path) -> tuple[LocalTask, dict[tuple[str, str], SubsetTexts]]:
    """A task folder's subsets as :class:`SubsetTexts` (pandas only), in the order mteb sees the items."""
    task = LocalTask(folder)
    tables = checked_tables(folder, task.spec)
    out: dict[tuple[str, str], SubsetTexts] = {}
    if "pairs" in tables:
        for (sub, sp), g in tables["pairs"].groupby(["subset", "split"], sort=True):
            out[(str(sub), str(sp))] = SubsetTexts(
                task.type, {"text1": list(g["sentence1"]), "text2": list(g["sentence2"])},
                gold=g["score"].to_numpy(np.float64) if "score" in g else None)
        return task, out
    corpus, queries, qrels = tables["corpus"], tables["queries"], tables["qrels"]
    for (sub, sp), q in queries.groupby(["subset", "split"], sort=True):
        c = corpus[(corpus.subset == sub) & (corpus.split == sp)]
        r = qrels[(qrels.subset == sub) & (qrels.split == sp)]
        titles = c["title"].fillna("").astype(str) if "title" in c.columns else [""] * len(c)
        docs = [f"{t} {x}".strip() if t else x for t, x in zip(titles, c["text"], strict=True)]
        rel: dict[str, dict[str, float]] = {}
        for qid, did, score in zip(r.query_id, r.doc_id, r.score, strict=True):
            rel.setdefault(str(qid), {})[str(did)] = float(score)
        out[(str(sub), str(sp))] = SubsetTexts(task.type, {"query": list(q["text"]), "document": docs},
                                               query_ids=[str(i) for i in q["id"]],
                                               doc_ids=[str(i) for i in c["id"]], qrels=rel,
                                               ignore_identical_ids=bool(getattr(task.spec, "ignore_identical_ids",
                                                                                 False)))
    return task, out


def _score(task_type: str, metric: str, frame: pd.DataFrame) -> float | None:
    return engine.recompute(task_type, metric, frame)


# ---------------------------------------------------------------------------------------------- one group
@dataclass
class Cell:
    """What geometry needs of one cell's sidecar."""

    condition: str
    prompts: dict[str, str]
    side: dict[str, Any]
    predictions: Path | None


def _side_vectors(st: SubsetTexts, prompts: dict[str, str], identity: str, store: Path | None
                  ) -> dict[str, np.ndarray] | None:
    out = {}
    for side, texts in st.sides.items():
        prefix = prompts["document" if side == "document" else "query"]  # pairs: both texts take the query side
        v = read_vectors(identity, [prefix + t for t in texts], store)
        if v is None:
            return None
        out[side] = v
    return out


def _unit_vectors(st: SubsetTexts, vecs: dict[str, np.ndarray], texts: list[str]) -> np.ndarray:
    first: dict[str, np.ndarray] = {}
    for side in ("text1", "text2", "query"):
        for t, v in zip(st.sides.get(side, []), vecs.get(side, []), strict=False):
            first.setdefault(t, v)
    return np.stack([first[t] for t in texts]).astype(np.float64)


def _all_vectors(vecs: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate(list(vecs.values()))


def _interval(boot: np.ndarray, observed: float | None = None) -> tuple[float, float]:
    """The percentile interval; with ``observed`` (a level, not a paired delta) shifted by the bootstrap's bias
    (median of the resamples − observed): a resample repeats texts, which lowers a participation ratio and
    raises a mean cosine on a few dozen texts, so the plain interval can miss the observation altogether."""
    boot = boot[~np.isnan(boot)]
    if not len(boot):
        return np.nan, np.nan
    alpha = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    shift = float(np.median(boot)) - observed if observed is not None else 0.0
    return float(lo) - shift, float(hi) - shift


def _units(st: SubsetTexts, stated: str | None) -> Units:
    t1, t2 = (st.sides["text1"], st.sides["text2"]) if st.task_type == "STS" else (None, None)
    return resample_units(st.task_type, st.n_items, unit=stated, text1=t1, text2=t2)


def subset_rows(st: SubsetTexts, vectors: dict[str, dict[str, np.ndarray]], frames: dict[str, pd.DataFrame],
                main: str, *, seed: int, stated: str | None = None, n_bootstrap: int = N_BOOTSTRAP
                ) -> list[dict[str, Any]]:
    """Every geometry row of one subset: ``vectors`` per condition (per side, in item order); ``frames`` the
    conditions' raw item predictions (for the check that the vectors reproduce the cells). Rows carry condition,
    metric, score, its interval, and the delta against ``none`` with its paired interval."""
    by = subset_rows_by_condition(st, vectors, frames, main, seed=seed, stated=stated, n_bootstrap=n_bootstrap)
    return [r for c in sorted(by) for r in by[c]]


def subset_rows_by_condition(st: SubsetTexts, vectors: dict[str, dict[str, np.ndarray]],
                             frames: dict[str, pd.DataFrame], main: str, *, seed: int, stated: str | None = None,
                             n_bootstrap: int = N_BOOTSTRAP, only: Iterable[str] | None = None
                             ) -> dict[str, list[dict[str, Any]]]:
    """:func:`subset_rows` per condition, for the conditions ``only`` (default: every one in ``vectors``). A
    condition's rows depend on its own vectors and frame, ``none``'s (its deltas) and the subset's draws (from
    ``seed``) alone — never on which other conditions are there — so each can be cached by its cell's key and
    ``none``'s (:func:`table`)."""
    units = _units(st, stated)
    texts, membership = st.unit_texts()
    wanted = sorted(vectors) if only is None else sorted(set(only) & set(vectors))
    base = BASELINE if BASELINE in vectors else None
    conditions = sorted({*wanted, *([base] if base is not None else [])})
    x = {c: _unit_vectors(st, vectors[c], texts) for c in conditions}
    rng = np.random.default_rng(seed)
    item_draws = [resample_weights(units, rows, rng) for rows in chunk_sizes(n_bootstrap, st.n_items)]
    w = np.concatenate(item_draws) if item_draws else np.empty((0, st.n_items))
    v = text_weights(w, membership)
    both = np.concatenate([np.ones((1, len(texts))), v])  # the observation (weights 1) and every resample at once
    by_item = (np.concatenate([np.ones((1, st.n_items)), w]), membership) if st.n_items < len(texts) else None
    rows: dict[str, list[dict[str, Any]]] = {c: [] for c in wanted}

    def add(cond: str, metric: str, obs: float, boot: np.ndarray, d_obs: float = np.nan,
            d_boot: np.ndarray | None = None, d_ci: tuple[float, float] | None = None) -> None:
        if cond not in rows:
            return  # none's own rows, computed only for the deltas of the conditions asked for
        lo, hi = _interval(boot, obs) if len(boot) else (np.nan, np.nan)
        dlo, dhi = d_ci if d_ci is not None else (_interval(d_boot) if d_boot is not None else (np.nan, np.nan))
        rows[cond].append({"condition": cond, "metric": metric, "score": obs, "ci_low": lo, "ci_high": hi,
                     "delta": d_obs, "delta_ci_low": dlo, "delta_ci_high": dhi, "resample_unit": units.kind,
                     "n_units": int(units.n_units), "n_texts": len(texts), "n_bootstrap": n_bootstrap})

    shape: dict[str, dict[str, tuple[float, np.ndarray]]] = {}
    for c in conditions:
        an, pr = anisotropy(x[c], both), participation_ratio(x[c], both, by_item)  # one Gram matrix per condition
        shape[c] = {"anisotropy": (float(an[0]), an[1:]), "participation_ratio": (float(pr[0]), pr[1:])}
        if base is not None and c != base:
            sh = shift_share(x[c] - x[base], both)
            shape[c]["shift_share"] = (float(sh[0]), sh[1:])
    for c in wanted:
        for metric, (obs, boot) in shape[c].items():
            if metric != "shift_share" and base is not None and c != base:
                b_obs, b_boot = shape[base][metric]
                add(c, metric, obs, boot, obs - b_obs, boot - b_boot)
            else:
                add(c, metric, obs, boot)
    m = metric_for(st.task_type, main)
    if m is None:
        return rows
    usable = []
    for c in conditions:  # the vectors must reproduce the cell's own score before anything is recomputed
        raw = _score(st.task_type, main, prediction_frame(st, vectors[c]))
        want = _score(st.task_type, main, frames[c]) if c in frames else None
        if raw is None or want is None or abs(raw - want) > SCORE_TOLERANCE:
            log.warning("geometry: %s under %s: the cached vectors give %s, the cell %s; no centred score",
                        main, c, raw, want)
        else:
            usable.append(c)
    removed = {c: remove_mean(_all_vectors(vectors[c]), pc1=True) for c in usable}  # the mean and PC1, once
    for view in CENTRED:
        centred: dict[str, pd.DataFrame] = {}
        for c in usable:
            mu, direction = removed[c] if view == "centred_pc1" else (removed[c][0], np.empty(0))
            centred[c] = prediction_frame(st, {s: centre(vv, mu, direction) for s, vv in vectors[c].items()})
        name = centred_metric(view, main)
        b_got = _score(st.task_type, main, centred[base]) if base is not None and base in centred else None
        cb = _columns(st, main, centred[base]) if b_got is not None and base is not None else None
        paired: list[tuple[str, float, dict[str, np.ndarray]]] = []
        for c, frame in centred.items():
            if c not in rows:
                continue
            got = _score(st.task_type, main, frame)
            if got is None:
                continue
            if cb is None or b_got is None or c == base:
                add(c, name, got, np.empty(0))
            else:
                paired.append((c, got, _columns(st, main, frame)))
        if paired and cb is not None and b_got is not None:  # one resample of the view for every condition's delta
            cis = bootstrap_intervals(m, [(ca, cb, got - b_got) for _, got, ca in paired], n_bootstrap,
                                      np.random.default_rng(engine.seed_for(seed, name)), units=units)
            for (c, got, _), (lo, hi, _) in zip(paired, cis, strict=True):
                add(c, name, got, np.empty(0), got - b_got, d_ci=(lo, hi))
    return rows


def _columns(st: SubsetTexts, main: str, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    _, cols = item_columns(st.task_type, main, frame)
    return cols


# ---------------------------------------------------------------------------------------------- the results folder
def _groups(results_dir: Path, leave_out: Iterable[str], sides: Iterable[tuple[Path, dict[str, Any]]] | None = None
            ) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    skip = set(leave_out)
    out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for path, side in (layout.read_sidecars(results_dir)[0] if sides is None else sides):
        if str(path.relative_to(results_dir)) in skip:
            continue
        key = (side["model"], side["revision"], side.get("model_identity", ""), side["task"],
               side.get("task_data_sha256", ""))
        out.setdefault(key, []).append(side)
    return out


def _previous(results_dir: Path) -> pd.DataFrame:
    path = results_dir / FILE
    try:
        return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=COLUMNS)
    except Exception as e:  # an unreadable old table is only a lost shortcut
        log.warning("geometry: %s unreadable (%s); recomputing what the embedding cache allows", path, e)
        return pd.DataFrame(columns=COLUMNS)


def _kept(prev: pd.DataFrame, where: tuple[str, str, str, str, str], keys: dict[str, str]) -> list[dict[str, Any]]:
    """The previous table's rows of one subset when every one of them belongs to a cell that is unchanged (its
    key and its ``none`` cell's key as now): what a folder aggregated without its embedding cache keeps."""
    model, revision, task, sub, split = where
    old = prev[(prev.model == model) & (prev.revision == revision) & (prev.task == task) & (prev.subset == sub)
               & (prev.split == split)]
    none_key = keys.get(BASELINE, "")
    ok = [keys.get(c) == k and b == none_key for c, k, b in zip(old.condition, old.cell_key, old.baseline_key,
                                                                 strict=True)]
    return [] if old.empty or not all(ok) else old.to_dict("records")


def table(results_dir: Path, *, leave_out: Iterable[str] = (), store: Path | None = None,
          n_bootstrap: int = N_BOOTSTRAP, read: Iterable[tuple[Path, dict[str, Any]]] | None = None,
          cache: StatsCache | None = None) -> pd.DataFrame:
    """Every geometry row of the results folder (:data:`COLUMNS`; task types in :data:`GEOMETRY_TYPES` only);
    cells whose task folder has changed are skipped. Where the embedding cache lacks a cell's vectors the subset
    keeps the previous ``geometry.parquet`` rows if all its cells are unchanged, else uses the cells with vectors.
    Each cell × subset's rows are cached in the statistics cache (``cache``; off with $HARNESS_STATS_CACHE=off)
    under :func:`harness.stats.stats_cache.geometry_key`: with nothing new, no task folder, prediction or vector is
    read; a new condition computes only its own rows. Stored only when ``none``'s vectors were there (its deltas
    complete)."""
    own = cache is None
    cache = StatsCache() if cache is None else cache
    try:
        return _table(results_dir, leave_out, store, n_bootstrap, read, cache)
    finally:
        if own:
            cache.close()


def _subset_cost(job: tuple[Any, ...]) -> float:
    """A subset job's expected cost: the Gram squares of its conditions (texts² each)."""
    vectors = job[1]
    return float(sum(sum(len(v) for v in sides.values()) ** 2 for sides in vectors.values()))


def _subset_job(job: tuple[Any, ...]) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """(one subset's :func:`subset_rows_by_condition` with one BLAS thread, the CPU seconds it took): a worker
    function for the statistics pool (:func:`harness.stats.pool.map_jobs`)."""
    import time

    from threadpoolctl import threadpool_limits

    st, vectors, frames, main, seed, stated, n_bootstrap, todo = job
    t0 = time.process_time()
    with threadpool_limits(1):
        got = subset_rows_by_condition(st, vectors, frames, main, seed=seed, stated=stated,
                                       n_bootstrap=n_bootstrap, only=todo)
    return got, time.process_time() - t0


TIMER = "statistics: geometry"


def _table(results_dir: Path, leave_out: Iterable[str], store: Path | None, n_bootstrap: int,
           read: Iterable[tuple[Path, dict[str, Any]]] | None, cache: StatsCache) -> pd.DataFrame:
    """Two passes: the first emits every cached row and collects the subsets to compute as jobs (with their
    vectors), the jobs run in the statistics pool when one is open (each from its own seed: the same rows whatever
    the workers), the second pass stores and emits their rows where they belong."""
    global COMPUTED
    prev: pd.DataFrame | None = None
    chunks: list[list[dict[str, Any]]] = []  # rows in output order; a computed subset's chunk is filled after
    jobs: list[tuple[Any, ...]] = []
    finish: list[Any] = []  # per job: what stores and emits its rows
    groups = _groups(results_dir, leave_out, read)  # read: the sidecars aggregate already read
    for group, sides in sorted(groups.items()):
        model, revision, identity, task_name, data_sha = group
        first = sides[0]
        if first.get("task_type") not in GEOMETRY_TYPES:  # no prediction_frame for it (e.g. PairClassification)
            continue
        folder = Path(first.get("task_dir", ""))
        main, stated = first["main_score"], first.get("resample_unit")
        keys = {side["condition"]: side.get("key", "") for side in sides}
        none_key = keys.get(BASELINE, "")
        ident = {"model": model, "alias": first["alias"], "revision": revision, "task": task_name,
                 "task_type": first["task_type"]}

        def emit(out: list[dict[str, Any]], sub: str, split: str, r: dict[str, Any], ident: dict[str, Any] = ident,
                 keys: dict[str, str] = keys, none_key: str = none_key) -> None:
            out.append({**ident, "subset": sub, "split": split, **r, "cell_key": keys[r["condition"]],
                        "baseline_key": none_key})

        listed = cache.get_json(geometry_subsets_key(group)) if folder.is_dir() else None
        if listed is not None:  # every subset's rows of every cell cached: nothing below is read
            hits = {(sub, split, c): cache.get_json(geometry_key(group, sub, split, main, stated, n_bootstrap, k,
                                                                 none_key))
                    for sub, split in listed for c, k in sorted(keys.items())}
            if all(v is not None for v in hits.values()):
                chunks.append([])
                for (sub, split, _), got in hits.items():
                    for r in got or []:
                        emit(chunks[-1], sub, split, r)
                continue
        try:
            task, subsets = task_texts(folder)
            if task.data_hash != data_sha:
                log.info("geometry: %s: task data changed since its cells ran; skipped", folder)
                continue
        except Exception as e:  # a task folder that moved or broke: its cells simply get no geometry
            log.info("geometry: %s/%s: task folder unreadable (%s); skipped", model, task_name, e)
            continue
        cache.put_json(geometry_subsets_key(group), sorted([sub, split] for sub, split in subsets))
        frames_by_cond: dict[str, pd.DataFrame] | None = None
        for (sub, split), st in sorted(subsets.items()):
            ckeys = {c: geometry_key(group, sub, split, main, stated, n_bootstrap, k, none_key)
                     for c, k in keys.items()}
            cached = {c: cache.get_json(ck) for c, ck in ckeys.items()}
            got_rows: dict[str, list[dict[str, Any]]] = {c: v for c, v in cached.items() if v is not None}
            todo = [c for c in sorted(keys) if c not in got_rows]
            chunk: list[dict[str, Any]] = []
            chunks.append(chunk)
            if todo:
                need = {*todo, *([BASELINE] if BASELINE in keys else [])}
                vectors = {}
                for side in sides:
                    if side["condition"] in need:
                        vec = _side_vectors(st, side["prompts"], identity, store)
                        if vec is not None:
                            vectors[side["condition"]] = vec
                missing = sorted(need - set(vectors))
                if any(c in todo for c in missing):
                    prev = _previous(results_dir) if prev is None else prev
                    kept = _kept(prev, (model, revision, task_name, sub, split), keys)
                    if kept:
                        chunk.extend(kept)
                        continue
                    log.info("geometry: %s/%s/%s: vectors of %s not in the embedding cache; left out",
                             first["alias"], task_name, sub, ", ".join(missing))
                if frames_by_cond is None:
                    frames_by_cond = _frames(results_dir, sides)
                frames = {c: f[(f.subset == sub) & (f.split == split)] for c, f in frames_by_cond.items()}
                seed = engine.seed_for(model, revision, task_name, sub, split, KIND)
                jobs.append((st, vectors, frames, main, seed, stated, n_bootstrap, todo))
                complete = BASELINE not in keys or BASELINE in vectors  # else its deltas are missing: not stored

                def done(new: dict[str, list[dict[str, Any]]], chunk: list[dict[str, Any]] = chunk,
                         got_rows: dict[str, list[dict[str, Any]]] = got_rows, ckeys: dict[str, str] = ckeys,
                         complete: bool = complete, sub: str = sub, split: str = split, emit: Any = emit) -> None:
                    for c, got in new.items():
                        got_rows[c] = got
                        if complete:
                            cache.put_json(ckeys[c], got)
                    for c in sorted(got_rows):
                        for r in got_rows[c]:
                            emit(chunk, sub, split, r)

                finish.append(done)
                continue
            for c in sorted(got_rows):
                for r in got_rows[c]:
                    emit(chunk, sub, split, r)
    from harness.core import timers

    with timers.timed(TIMER):
        computed = pool.map_jobs(_subset_job, jobs, timer=TIMER, cost=_subset_cost)
    for done, new in zip(finish, computed, strict=True):
        COMPUTED += len(new)
        done(new)
    return pd.DataFrame([r for chunk in chunks for r in chunk], columns=COLUMNS)


def _frames(results_dir: Path, sides: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for side in sides:
        if not side.get("predictions_file"):
            continue
        pf = trust.cell_path(results_dir, side, "predictions_file")  # inside the folder, no link
        if pf.is_file():
            out[side["condition"]] = pd.read_parquet(pf)
    return out


def board_rows(geo: pd.DataFrame, board: pd.DataFrame) -> pd.DataFrame:
    """The geometry rows as leaderboard rows (``kind: geometry``), with the identity columns of their cells."""
    if geo.empty:
        return board.iloc[0:0]
    keys = ["model", "revision", "task", "subset", "split", "condition"]
    cells = board[board.kind == "mteb"].drop_duplicates(keys)
    ident = [c for c in board.columns if c not in ("kind", "metric", "is_main", "score", "n_items", "task_type",
                                                  "alias")]
    merged = geo.merge(cells[ident], on=keys, how="inner")
    merged = merged.assign(kind=KIND, is_main=False, n_items=merged["n_units"].astype("int64"))
    return merged[board.columns]


def fill_delta_intervals(d: pd.DataFrame, geo: pd.DataFrame) -> None:
    """The paired intervals of the geometry deltas against ``none`` (in place; other baselines keep none)."""
    if geo.empty or d.empty:
        return
    keys = ["model", "revision", "task", "subset", "split", "condition", "metric"]
    g = geo.dropna(subset=["delta_ci_low"]).drop_duplicates(keys)
    rows = d[(d.kind == KIND) & (d.baseline == BASELINE)]
    hit = rows[keys].assign(_row=rows.index).merge(g, on=keys, how="inner")
    if hit.empty:
        return
    for target, source in (("ci_low", "delta_ci_low"), ("ci_high", "delta_ci_high"), ("n_bootstrap", "n_bootstrap"),
                           ("resample_unit", "resample_unit"), ("n_units", "n_units")):
        d.loc[hit["_row"].to_numpy(), target] = hit[source].to_numpy()
