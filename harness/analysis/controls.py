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
           deltas: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(paraphrase spreads, ranks, rank agreement) of the main metrics of a leaderboard. ``deltas``: the
    ``deltas.parquet`` rows whose interval the paraphrase table shows for blog − none (else none is shown)."""
    main = board[(board.kind == "mteb") & board.is_main]
    files = prediction_files(results_dir)
    para_rows: list[dict] = []
    agree_rows: list[dict] = []
    loaded: dict[Path, pd.DataFrame | None] = {}
    current_task = None
    for keys, g in main.groupby(_GROUP, sort=True):
        task, task_type, subset, split, metric = keys
        if task != current_task:  # predictions of one task at a time
            loaded, current_task = {}, task
        need = set()
        for (model, revision), gm in g.groupby(["model", "revision"]):
            need |= {(model, revision, c) for c in paraphrase.cells_needed(set(gm.condition))}
        if g.drop_duplicates(["model", "revision"]).shape[0] >= rankings.MIN_MODELS:
            need |= {(r.model, r.revision, r.condition) for r in g.itertuples()}
        if not need:
            continue
        frames: dict[Hashable, pd.DataFrame] = {}
        for key in sorted(need):
            path = files.get((*key, task))
            if path is None:
                continue
            if path not in loaded:
                try:
                    loaded[path] = pd.read_parquet(path)
                except Exception as e:
                    log.warning("%s: unreadable predictions (%s); left out of the control tables", path, e)
                    loaded[path] = None
            df = loaded[path]
            if df is not None:
                frames[key] = df[(df.subset == subset) & (df.split == split)]
        frames = {k: f for k, f in frames.items() if not f.empty}
        if not frames:
            continue
        seed = engine.seed_for(task, subset, split, metric, "joint")
        try:
            js = joint.joint_scores(task_type, metric, frames, seed=seed,
                                    n_bootstrap=n_bootstrap or engine.N_BOOTSTRAP)
        except ValueError as e:
            log.warning("%s/%s/%s: %s; no control tables", task, subset, split, e)
            continue
        if js is None:
            continue
        scores = g.drop_duplicates(["model", "revision", "condition"]).set_index(
            ["model", "revision", "condition"]).score
        for j, cell in enumerate(js.keys):
            want = scores.get(cell)
            if want is None or abs(js.observed[j] - want) > SCORE_CHECK_TOLERANCE:
                log.warning("%s/%s/%s %s: %s recomputed from predictions (%s) differs from mteb's (%s); left out",
                            task, subset, split, cell, metric, js.observed[j], want)
                js.observed[j] = np.nan
                js.boot[:, j] = np.nan
        para_rows += paraphrase.rows(js, g)
        agree_rows += rankings.agreement(js, g)
    para = pd.DataFrame(para_rows)
    if deltas is not None and not para.empty:
        para = paraphrase.attach_reference_ci(para, deltas)
    return (_frame(para, PARAPHRASE_SCHEMA), _frame(rankings.ranks(main), RANKS_SCHEMA),
            _frame(agree_rows, RANK_AGREEMENT_SCHEMA))


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
