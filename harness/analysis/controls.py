"""The control-condition tables that aggregate writes beside the deltas, from one joint bootstrap per task ×
subset × split (:mod:`harness.stats.joint`):

- ``paraphrase.parquet``: the spread of each model's score across paraphrase variants
  (:mod:`harness.analysis.paraphrase`), its blog − none interval taken from the deltas;
- ``ranks.parquet`` and ``rank_agreement.parquet``: the models' ranks per condition and Kendall τ against
  ``none`` (:mod:`harness.analysis.rankings`).

A group is bootstrapped only when it needs it (some model ran two or more variants, or at least three models ran
it); each cell's recomputed score must reproduce the leaderboard's (else the cell is left out, with a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import paraphrase, rankings
from harness.results import layout, trust
from harness.results.schema import (
    CONTROLS_SCHEMA_VERSION,
    PARAPHRASE_SCHEMA,
    RANK_AGREEMENT_SCHEMA,
    RANKS_SCHEMA,
    write_parquet,
)
from harness.stats import engine, joint

log = logging.getLogger(__name__)
SCORE_CHECK_TOLERANCE = 1e-5  # as for deltas: mteb rounds retrieval metrics to 5 decimals
FILES = {"paraphrase": "paraphrase.parquet", "ranks": "ranks.parquet", "rank_agreement": "rank_agreement.parquet"}
_GROUP = ["task", "task_type", "subset", "split", "metric"]


def _frame(rows: list[dict] | pd.DataFrame, schema: object) -> pd.DataFrame:
    names = schema.names  # type: ignore[attr-defined]
    df = pd.DataFrame(rows, columns=[n for n in names if n != "schema_version"])
    df.insert(0, "schema_version", CONTROLS_SCHEMA_VERSION)
    return df[names]


def prediction_files(results_dir: Path) -> dict[tuple[str, str, str, str], Path]:
    """(model, revision, condition, task) → the cell's predictions parquet, from the sidecars on disk."""
    out = {}
    for _, side in layout.sidecars(results_dir):
        if side.get("predictions_file"):
            out[(side["model"], side["revision"], side["condition"], side["task"])] = trust.cell_path(
                results_dir, side, "predictions_file")  # inside the folder, no link
    return out


def tables(board: pd.DataFrame, results_dir: Path, *, n_bootstrap: int | None = None,
           deltas: pd.DataFrame | None = None, workers: int | None = None
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(paraphrase spreads, ranks, rank agreement) of the main metrics of a leaderboard. ``deltas``: the
    ``deltas.parquet`` rows whose interval the paraphrase table shows for blog − none (else none is shown).

    Each task × subset × split group that needs a joint bootstrap is one job for the statistics pool
    (:func:`harness.stats.pool.map_jobs`; its own seed, so the rows do not depend on the workers), and its rows
    are cached in the statistics cache by the bytes of its prediction files and its leaderboard rows
    (:func:`_group_key`): a warm aggregate reads no prediction for the control tables. ``workers``: as
    :func:`harness.stats.pool.map_jobs`'s."""
    from harness.core import timers
    from harness.core.atomic import file_sha256
    from harness.stats import pool, stats_cache

    main = board[(board.kind == "mteb") & board.is_main]
    files = prediction_files(results_dir)
    n_boot = n_bootstrap or engine.N_BOOTSTRAP
    done: dict[int, dict[str, list]] = {}
    jobs: list[tuple[int, str, tuple, dict, pd.DataFrame, int, int]] = []
    with stats_cache.StatsCache() as cache:
        for index, (keys, g) in enumerate(main.groupby(_GROUP, sort=True)):
            task = keys[0]
            need = set()
            for (model, revision), gm in g.groupby(["model", "revision"]):
                need |= {(model, revision, c) for c in paraphrase.cells_needed(set(gm.condition))}
            if g.drop_duplicates(["model", "revision"]).shape[0] >= rankings.MIN_MODELS:
                need |= {(r.model, r.revision, r.condition) for r in g.itertuples()}
            paths = {key: files[(*key, task)] for key in sorted(need) if (*key, task) in files}
            if not paths:
                continue
            seed = engine.seed_for(*keys[:1], *keys[2:], "joint")
            try:
                shas = {key: file_sha256(path) for key, path in paths.items()}
            except OSError as e:
                log.warning("%s: unreadable predictions (%s); left out of the control tables", task, e)
                continue
            ck = _group_key(keys, shas, g, seed, n_boot)
            hit = cache.get_json(ck)
            if hit is not None:
                done[index] = hit
            else:
                jobs.append((index, ck, keys, paths, g, seed, n_boot))
        with timers.timed(TIMER):
            computed = pool.map_jobs(_group_job, [j[2:] for j in jobs], workers=workers, timer=TIMER,
                                     cost=lambda job: float(len(job[1])))
        for (index, ck, *_), got in zip(jobs, computed, strict=True):
            done[index] = got
            cache.put_json(ck, got)
    para_rows: list[dict] = []
    agree_rows: list[dict] = []
    for index in sorted(done):
        for line in done[index]["warnings"]:
            log.warning("%s", line)
        para_rows += done[index]["paraphrase"]
        agree_rows += done[index]["agreement"]
    para = pd.DataFrame(para_rows)
    if deltas is not None and not para.empty:
        para = paraphrase.attach_reference_ci(para, deltas)
    return (_frame(para, PARAPHRASE_SCHEMA), _frame(rankings.ranks(main), RANKS_SCHEMA),
            _frame(agree_rows, RANK_AGREEMENT_SCHEMA))


TIMER = "statistics: control tables"
_KEY_COLUMNS = ["model", "revision", "alias", "condition", "task", "task_type", "subset", "split", "metric", "score",
                "instruction_sha256"]


def _group_key(keys: tuple, shas: dict[tuple[str, str, str], str], g: pd.DataFrame, seed: int,
               n_bootstrap: int) -> str:
    """A group's cache key: the method version, the group, its prediction files' bytes (sha256, as the deltas'
    cache keys them), the leaderboard rows its tables are made of (scores, aliases, conditions), seed and
    resample count."""
    import hashlib
    import json

    from harness.stats.stats_cache import METHOD_VERSION

    rows = g[[c for c in _KEY_COLUMNS if c in g.columns]].astype(str).sort_values(["model", "revision", "condition"])
    blob = json.dumps([METHOD_VERSION, "controls", [str(k) for k in keys], sorted(["/".join(k), v]
                       for k, v in shas.items()), rows.values.tolist(), seed, n_bootstrap])
    return hashlib.sha256(blob.encode()).hexdigest()


def _group_job(job: tuple[Any, ...]) -> tuple[dict[str, list], float]:
    """One group's control rows ({"paraphrase": rows, "agreement": rows, "warnings": lines}) and the CPU seconds
    they took, with one BLAS thread: a worker function for the statistics pool. The warnings go back to the
    caller, which logs them (and logs them again when the rows come from the cache)."""
    import time

    from threadpoolctl import threadpool_limits

    keys, paths, g, seed, n_bootstrap = job
    t0 = time.process_time()
    with threadpool_limits(1):
        got = _group_rows(keys, paths, g, seed, n_bootstrap)
    return got, time.process_time() - t0


def _group_rows(keys: tuple, paths: dict[tuple[str, str, str], Path], g: pd.DataFrame, seed: int,
                n_bootstrap: int) -> dict[str, list]:
    task, task_type, subset, split, metric = keys
    warnings: list[str] = []
    out: dict[str, list] = {"paraphrase": [], "agreement": [], "warnings": warnings}
    frames: dict[Hashable, pd.DataFrame] = {}
    for key, path in paths.items():  # one file per cell
        try:
            df = pd.read_parquet(path)
        except Exception as e:
            warnings.append(f"{path}: unreadable predictions ({e}); left out of the control tables")
            continue
        frames[key] = df[(df.subset == subset) & (df.split == split)]
    frames = {k: f for k, f in frames.items() if not f.empty}
    if not frames:
        return out
    try:
        js = joint.joint_scores(task_type, metric, frames, seed=seed, n_bootstrap=n_bootstrap)
    except ValueError as e:
        warnings.append(f"{task}/{subset}/{split}: {e}; no control tables")
        return out
    if js is None:
        return out
    scores = g.drop_duplicates(["model", "revision", "condition"]).set_index(["model", "revision", "condition"]).score
    for j, cell in enumerate(js.keys):
        want = scores.get(cell)
        if want is None or abs(js.observed[j] - want) > SCORE_CHECK_TOLERANCE:
            warnings.append(f"{task}/{subset}/{split} {cell}: {metric} recomputed from predictions ({js.observed[j]}) "
                            f"differs from mteb's ({want}); left out")
            js.observed[j] = np.nan
            js.boot[:, j] = np.nan
    out["paraphrase"] = paraphrase.rows(js, g)
    out["agreement"] = rankings.agreement(js, g)
    return out


def write(results_dir: Path, para: pd.DataFrame, ranked: pd.DataFrame, agree: pd.DataFrame) -> None:
    for df, schema, name in ((para, PARAPHRASE_SCHEMA, FILES["paraphrase"]), (ranked, RANKS_SCHEMA, FILES["ranks"]),
                             (agree, RANK_AGREEMENT_SCHEMA, FILES["rank_agreement"])):
        write_parquet(df, schema, results_dir / name)


def read(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables from a results folder (empty frames where a file is missing: an older aggregate), with this
    version's columns."""
    out = []
    for name, schema in (("paraphrase", PARAPHRASE_SCHEMA), ("ranks", RANKS_SCHEMA),
                         ("rank_agreement", RANK_AGREEMENT_SCHEMA)):
        path = results_dir / FILES[name]
        # an older file (controls schema 1) lacks this version's columns: they read as empty
        out.append(pd.read_parquet(path).reindex(columns=schema.names) if path.exists()
                   else pd.DataFrame(columns=schema.names))
    return out[0], out[1], out[2]
