"""Aggregate: scan the results folder → ``leaderboard.parquet`` and ``deltas.parquet`` (schemas in
:mod:`harness.results.schema`), and the control-condition tables (:mod:`harness.analysis.controls`).

``aggregate`` derives everything from the files on disk (cell sidecars, mteb TaskResult JSON, predictions); it never
consults a manifest, so it can be rerun alone at any time. Each main-metric delta gets paired statistics recomputed
from the two cells' predictions (:mod:`harness.stats`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import controls, currency, decomposition, family, geometry, multiplicity, robust_score
from harness.core import atomic, faults, timers
from harness.core.errors import HarnessError
from harness.prompts.conditions import BASELINE, FORMAT_BASELINE
from harness.results import layout, trust
from harness.results.mteb_json import read_scores
from harness.results.schema import (
    DELTA_KEYS,
    DELTAS_SCHEMA,
    FAMILY_SCHEMA,
    GEOMETRY_SCHEMA,
    LEADERBOARD_SCHEMA,
    ROBUST_SCHEMA,
    SCHEMA_VERSION,
    STATS_COLUMNS,
    write_parquet,
)
from harness.results.staging import NothingToWrite
from harness.stats import engine, pool, stats_cache

log = logging.getLogger(__name__)
PAIRING = ["task_data_sha256", "model_identity"]  # a delta's two cells must agree on these (sidecar fields)
FAMILY_FILE = "family.parquet"
SCORE_CHECK_TOLERANCE = 1e-5  # recomputed vs mteb's stored score (mteb rounds retrieval metrics to 5 decimals)


def _scalars(scores: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in scores.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("evaluation_time",)
    }


def _rows_for_cell(side: dict[str, Any], results_dir: Path, sidecar: Path | None = None) -> list[dict[str, Any]]:
    result_path = trust.cell_path(results_dir, side, "result_file", where=sidecar)  # inside, no link
    scores = read_scores(result_path)  # plain JSON: no mteb import (mteb only for pre-1.12.48 files)
    base = {
        **{k: side.get(k) or "" for k in PAIRING},  # internal: cells pair only on the same data and model
        "schema_version": SCHEMA_VERSION,
        "model": side["model"],
        "alias": side["alias"],
        "revision": side["revision"],
        "condition": side["condition"],
        "instruction_sha256": side["prompts_sha256"],
        "task": side["task"],
        "task_type": side["task_type"],
        "dataset_revision": (side.get("dataset") or {}).get("revision") or str(side.get("task_data_sha256", ""))[:12],
        "official_kind": side.get("official_kind"),
        "mteb_version": side["mteb_version"],
        "harness_version": side["harness_version"],
        "created_at": side["created_at"],
    }
    rows: list[dict[str, Any]] = []
    for split, entries in scores.items():
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
    for p in side.get("probes") or []:
        rows.append(base | {"subset": p["subset"], "split": p["split"], "kind": "probe", "metric": p["metric"],
                            "is_main": False, "score": float(p["score"]), "n_items": p.get("n_items")})
    return rows


def board_rows(results_dir: Path, sides: list[tuple[Path, dict[str, Any]]], leave_out: set[str] | frozenset[str]
               ) -> tuple[pd.DataFrame, list[tuple[Path, str]]]:
    """The leaderboard of the cells in ``sides`` except those in ``leave_out`` (relative sidecar paths), and
    (sidecar, reason) of the cells whose files could not be read (left out too)."""
    rows: list[dict[str, Any]] = []
    bad: list[tuple[Path, str]] = []
    for sidecar, side in sides:
        if str(sidecar.relative_to(results_dir)) in leave_out:
            continue
        try:
            rows += _rows_for_cell(side, results_dir, sidecar)
        except HarnessError as e:
            bad.append((sidecar, str(e)))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            bad.append((sidecar, f"{side['result_file']}: unusable ({e.__class__.__name__}: {e})"))
    df = pd.DataFrame(rows, columns=[*LEADERBOARD_SCHEMA.names, *PAIRING])
    df = df.astype({"score": "float64", "is_main": "bool"})
    df = df.sort_values(["model", "revision", "task", "subset", "split", "metric", "condition"], ignore_index=True)
    return df, bad


def leaderboard(results_dir: Path, *, leave_out: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """One row per metric of every usable cell, except the sidecars in ``leave_out`` (relative paths: stale
    cells). The frame also holds the :data:`PAIRING` columns (not written to the parquet file)."""
    return board_rows(results_dir, list(layout.sidecars(results_dir)), leave_out)[0]


def _pair_keys(board: pd.DataFrame) -> list[str]:
    """Two cells pair only on the same task data and model identity (when the board knows them)."""
    return [*DELTA_KEYS, *(k for k in PAIRING if k in board.columns)]


def _against(board: pd.DataFrame, baseline: str, others: pd.DataFrame) -> pd.DataFrame:
    keys = _pair_keys(board)
    base = board[board.condition == baseline][[*keys, "score", "instruction_sha256"]].rename(
        columns={"score": "baseline_score", "instruction_sha256": "baseline_sha256"})
    df = others.merge(base, on=keys, how="inner")
    df["baseline"] = baseline
    return df


def _format_has_prefixes(board: pd.DataFrame) -> pd.DataFrame:
    """(model, revision, task) whose `format` cell adds prefixes: its instruction hash differs from `none`'s
    (the same exact strings hash the same), or `none` is absent."""
    keys = ["model", "revision", "task", *(k for k in PAIRING if k in board.columns)]
    sha = board[["condition", *keys, "instruction_sha256"]].drop_duplicates()
    fmt = sha[sha.condition == FORMAT_BASELINE].drop(columns="condition")
    none = sha[sha.condition == BASELINE].drop(columns="condition")
    both = fmt.merge(none, on=keys, how="left", suffixes=("", "_none"))
    return both[both.instruction_sha256 != both.instruction_sha256_none][keys]


def deltas(board: pd.DataFrame, results_dir: Path | None = None, *, n_bootstrap: int | None = None,
           n_permutations: int | None = None, multiplicity_method: str = "holm",
           stats_workers: int | None = None) -> pd.DataFrame:
    """Score under each condition minus the score under ``none`` (same keys), and, where a model's ``format``
    condition adds prefixes, minus the score under ``format`` (conditions other than none/format).

    With ``results_dir``, each main-metric delta gets paired statistics recomputed from the cells' item-level
    predictions (:mod:`harness.stats`; the deltas not in the statistics cache in ``stats_workers`` processes,
    default :func:`harness.stats.pool.stats_workers`); p-values are adjusted within each model × kind of comparison
    (:mod:`harness.analysis.multiplicity`: Holm, or ``bh``)."""
    frames = [_against(board, BASELINE, board[board.condition != BASELINE])]
    with_prefixes = _format_has_prefixes(board)
    if not with_prefixes.empty:
        others = board[~board.condition.isin([BASELINE, FORMAT_BASELINE])].merge(with_prefixes)
        frames.append(_against(board, FORMAT_BASELINE, others))
    frames += [_against(board, base, others) for base, others in decomposition.comparisons(board)]
    df = pd.concat(frames, ignore_index=True)
    df["delta"] = df["score"] - df["baseline_score"]
    df["identical_inputs"] = (df["instruction_sha256"] == df["baseline_sha256"]).astype(bool)
    df["effect"] = decomposition.label(df)
    df["schema_version"] = SCHEMA_VERSION
    for col in STATS_COLUMNS:
        df[col] = None
    if results_dir is not None and not df.empty:
        with timers.timed("stage 1: predictions, score checks, cache"):  # engine.TIMER inside: the pool's part
            rerun = _add_stats(df, results_dir, n_bootstrap=n_bootstrap, n_permutations=n_permutations,
                               workers=stats_workers)
        with timers.timed("stage 2: multiplicity, redraws"):  # engine.REDRAW_TIMER inside: the pool's part
            done = multiplicity.adjust(df, method=multiplicity_method, rerun=rerun)  # families, redraws
        if done.tests:
            log.info("multiplicity: %d families, %d tests, %d redrawn, %d undetermined, %d swaps in all",
                     done.families, done.tests, done.redrawn, done.undetermined, done.permutations)
    df = df.astype({"ci_low": "float64", "ci_high": "float64", "p_value": "float64", "p_holm": "float64",
                    "p_mc_low": "float64", "p_mc_high": "float64", "p_tail": "float64", "p_adjusted": "float64",
                    "n_items": "Int64", "n_bootstrap": "Int64", "n_permutations": "Int64", "n_units": "Int64",
                    "n_extreme": "Int64", "family_size": "Int64", "ci_scale": "float64"})
    return df[DELTAS_SCHEMA.names].sort_values([*DELTA_KEYS, "baseline", "condition"], ignore_index=True)


def _prediction_files(results_dir: Path) -> dict[tuple[str, str, str, str], Path]:
    """(model, revision, condition, task) → the cell's predictions parquet, from the sidecars on disk."""
    out = {}
    for _, side in layout.sidecars(results_dir):
        if side.get("predictions_file"):
            out[(side["model"], side["revision"], side["condition"], side["task"])] = trust.cell_path(
                results_dir, side, "predictions_file")
    return out


def _add_stats(df: pd.DataFrame, results_dir: Path, *, n_bootstrap: int | None, n_permutations: int | None,
               workers: int | None = None) -> multiplicity.Rerun:
    """Stage 1: every delta's statistics (adaptive test against alpha alone); returns how stage 2 redraws one
    delta's test with more swaps (:mod:`harness.analysis.multiplicity`)."""
    files = _prediction_files(results_dir)
    stated = _stated_units(results_dir)
    loaded: dict[Path, pd.DataFrame | None] = {}
    hashes: dict[Path, str] = {}
    cache = stats_cache.StatsCache()

    def sha(path: Path) -> str:
        if path not in hashes:
            hashes[path] = atomic.file_sha256(path)
        return hashes[path]

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

    settings = {"n_bootstrap": n_bootstrap or engine.N_BOOTSTRAP,
                "n_permutations": n_permutations or engine.N_PERMUTATIONS}
    # One comparison, one test: rows that compare the same two input sets (e.g. placebo − format where format
    # adds nothing, and placebo − none) share their statistics and count once in the Holm family.
    comparison = pd.util.hash_pandas_object(df[decomposition.SAME_TEST], index=False)
    done: dict[int, Any] = {}
    inputs: dict[int, tuple[Any, ...]] = {}  # test → what stage 2 needs to redraw it
    pending: list[tuple[int, int, str, str, engine.DeltaJob]] = []  # not in the cache: computed after the loop
    ready: list[tuple[int, int, engine.PairedStats, tuple[Any, ...]]] = []
    copies: list[tuple[int, int]] = []  # (row, the row of the same test): filled once that one is
    zero: list[int] = []  # identical inputs: an interval of [0, 0] by construction
    for i, r in df[(df.kind == "mteb") & df.is_main].iterrows():
        if engine.metric_for(r.task_type, r.metric) is None:
            continue
        same = int(comparison[i])
        if same in done:
            copies.append((i, done[same]))
            continue
        done[same] = i
        if r.identical_inputs:
            # The same exact strings reached the model (e.g. `format` of a model without prefixes): the delta is 0
            # by construction, not an observation; no p-value, and it stays out of the Holm family.
            zero.append(i)
            continue
        pa = files.get((r.model, r.revision, r.condition, r.task))
        pb = files.get((r.model, r.revision, r.baseline, r.task))
        label = f"{r.alias}/{r.task}/{r.subset}/{r.split} {r.condition}−{r.baseline}"
        seed = engine.seed_for(r.model, r.revision, r.task, r.subset, r.split, r.metric, r.condition, r.baseline)
        unit = stated.get((r.model, r.revision, r.condition, r.task))  # None: inferred from the texts
        k = checks = None
        if pa is not None and pb is not None and pa.is_file() and pb.is_file():
            # The statistics (and the check that the predictions reproduce mteb's scores) are keyed by the
            # files' bytes: a warm aggregate reads no prediction for a delta whose both are in the cache.
            k = stats_cache.key(a_sha256=sha(pa), b_sha256=sha(pb), subset=r.subset, split=r.split,
                                task_type=r.task_type, metric=r.metric, unit=unit, seed=seed, **settings)
            checks = [_check_key(sha(p), r, score) for p, score in ((pa, r.score), (pb, r.baseline_score))]
            st = cache.get(k)
            if st is not None and all(cache.get_json(c) is True for c in checks):
                lazy = (functools.partial(items, r.model, r.revision, r.condition, r.task, r.subset, r.split),
                        functools.partial(items, r.model, r.revision, r.baseline, r.task, r.subset, r.split))
                ready.append((i, same, st, (r.task_type, r.metric, *lazy, seed, unit, k)))
                continue
        a = items(r.model, r.revision, r.condition, r.task, r.subset, r.split)
        b = items(r.model, r.revision, r.baseline, r.task, r.subset, r.split)
        if a is None or b is None or a.empty or b.empty or k is None or checks is None:
            log.warning("%s: no item-level predictions; no interval (rerun the cells)", label)
            continue
        # The statistics are only about mteb's number if the recomputation reproduces it on the full set.
        got = [(engine.recompute(r.task_type, r.metric, f), s) for f, s in ((a, r.score), (b, r.baseline_score))]
        if any(g is None or abs(g - want) > SCORE_CHECK_TOLERANCE for g, want in got):
            log.warning("%s: %s recomputed from predictions (%s) differs from mteb's (%s); no interval", label,
                        r.metric, [c[0] for c in got], [c[1] for c in got])
            continue
        for c in checks:
            cache.put_json(c, True)
        st = cache.get(k)
        if st is None:  # computed below, all at once (in a process pool)
            pending.append((i, same, k, label, (r.task_type, r.metric, a, b, seed, unit, settings)))
            continue
        ready.append((i, same, st, (r.task_type, r.metric, a, b, seed, unit, k)))
    with timers.timed(engine.TIMER):
        computed = engine.delta_stats_many([job for *_, job in pending], workers=workers)
    for (i, same, k, label, job), got_st in zip(pending, computed, strict=True):
        if isinstance(got_st, str):
            log.warning("%s: %s; no interval", label, got_st)
            continue
        if got_st is not None:
            cache.put(k, got_st)
            ready.append((i, same, got_st, (*job[:6], k)))
    if zero:
        df.loc[zero, ["ci_low", "ci_high"]] = 0.0
    ready.sort(key=lambda x: x[0])
    for _i, same, _, job_inputs in ready:
        inputs[same] = job_inputs
    if ready:  # one assignment per column, not per row
        rows = [i for i, *_ in ready]
        for col in _STATS_FIELDS:
            df.loc[rows, col] = [getattr(st, col) for _, _, st, _ in ready]
    if copies:
        dst, src = [i for i, _ in copies], [j for _, j in copies]
        for col in [*STATS_COLUMNS, "n_items"]:
            df.loc[dst, col] = df.loc[src, col].to_numpy()
    if cache.hits or cache.misses:
        log.info("statistics cache: %d deltas reused, %d computed", cache.hits, cache.misses)
    cache.close()
    return multiplicity.redraw(inputs, comparison, workers)


_STATS_FIELDS = ["ci_low", "ci_high", "p_value", "p_method", "n_bootstrap", "n_permutations", "n_items",
                 "resample_unit", "n_units", "ci_scale", "n_extreme", "p_mc_low", "p_mc_high", "p_tail", "p_stop"]


def _check_key(sha: str, r: Any, score: float) -> str:
    """The statistics cache's key of "these predictions reproduce mteb's stored ``score``" (a pure function of
    the file's bytes, the subset, split, metric, score and tolerance)."""
    import hashlib
    import json

    blob = json.dumps([stats_cache.METHOD_VERSION, "score check", sha, r.subset, r.split, r.task_type, r.metric,
                       float(score), SCORE_CHECK_TOLERANCE])
    return hashlib.sha256(blob.encode()).hexdigest()


def _stated_units(results_dir: Path) -> dict[tuple[str, str, str, str], str]:
    """(model, revision, condition, task) → the resample unit the task stated (cells record it in the sidecar)."""
    return {(side["model"], side["revision"], side["condition"], side["task"]): side["resample_unit"]
            for _, side in layout.sidecars(results_dir) if side.get("resample_unit")}


ALPHA = 0.05


def disagreements(d: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Main-metric deltas where the two methods disagree: the 95% interval excludes 0 while the permutation p is
    ≥ 0.05, or the interval includes 0 while p < 0.05 (unadjusted p: the interval is not adjusted either)."""
    rows = d[d.p_value.notna() & d.ci_low.notna()]
    excludes = (rows.ci_low > 0) | (rows.ci_high < 0)
    return rows[excludes != (rows.p_value < alpha)]


def disagreement_lines(d: pd.DataFrame) -> list[str]:
    """One line per disagreement, with both numbers (printed by ``harness aggregate``, shown in the report)."""
    out = []
    for r in disagreements(d).itertuples():
        side = "excludes" if (r.ci_low > 0 or r.ci_high < 0) else "includes"
        out.append(f"{r.alias}/{r.task}/{r.subset} {r.condition} − {r.baseline}: 95% CI [{r.ci_low:+.4f}, "
                   f"{r.ci_high:+.4f}] {side} 0 but permutation p = {r.p_value:.4f} (unit: {r.resample_unit})")
    return out


def aggregate(results_dir: Path, *, multiplicity_method: str = "holm", out: Path | None = None,
              stats_workers: int | None = None, stats_executor: pool.JobExecutor | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild ``leaderboard.parquet``, ``deltas.parquet`` and the other tables from the usable, current cells on
    disk, into ``out`` (default: the results folder; ``harness aggregate`` passes its staging folder,
    :mod:`harness.results.staging`). Cells left out — stale ones (their inputs changed since they ran:
    :mod:`harness.analysis.currency`) and unreadable ones (sidecar truncated, empty, not an object, missing
    fields or wrong types; result file unreadable) — are listed in ``left-out-cells.json`` with the reason and the
    command that recomputes them. Raises (writing nothing) only when no cell is left. ``multiplicity_method``:
    ``holm`` or ``bh`` within each family (:mod:`harness.analysis.multiplicity`). ``stats_executor``: where the
    statistics run instead of the local pool (:func:`harness.stats.pool.shared_pool`; Ray's)."""
    if multiplicity_method not in multiplicity.METHODS:
        raise HarnessError(f"--multiplicity {multiplicity_method}: unknown method (choose "
                           f"{' or '.join(multiplicity.METHODS)})")
    if not results_dir.is_dir():
        raise HarnessError(f"{results_dir}: no such results folder; run `harness run` first")
    out = out or results_dir
    atomic.remove_orphans(results_dir)
    sides, bad = layout.read_sidecars(results_dir)
    found = currency.check(results_dir, sides)
    with timers.timed("leaderboard (result files)"):
        board, unusable = board_rows(results_dir, sides, found.stale_sidecars)
    found.unreadable = currency.unreadable_cells(results_dir, [*bad, *unusable], dict(sides))
    if board.empty:
        left = []
        if found.stale:
            left.append(f"{len(found.stale)} stale")
        if found.unreadable:
            left.append(f"{len(found.unreadable)} unreadable (e.g. {found.unreadable[0].sidecar}: "
                        f"{found.unreadable[0].reason})")
        why = f" ({' and '.join(left)} cell(s) left out)" if left else ""
        raise NothingToWrite(f"{results_dir}: no results to aggregate{why}; run `harness run` first")
    for line in found.lines(results_dir):
        log.info(line)
    currency.write(results_dir, found, out=out)
    with pool.shared_pool(stats_workers, stats_executor):  # one pool (started when first needed) for all below
        with timers.timed("geometry (shift, anisotropy, centred scores)"):
            left_out = found.stale_sidecars | {u.sidecar for u in found.unreadable}
            geo = geometry.table(results_dir, leave_out=left_out, read=sides)
            board = pd.concat([board, geometry.board_rows(geo, board)], ignore_index=True)  # kind "geometry"
        with timers.timed("deltas (with their statistics)"):
            d = deltas(board, results_dir, multiplicity_method=multiplicity_method, stats_workers=stats_workers)
            geometry.fill_delta_intervals(d, geo)
        write_parquet(board, LEADERBOARD_SCHEMA, out / "leaderboard.parquet")
        write_parquet(geo.assign(schema_version=SCHEMA_VERSION), GEOMETRY_SCHEMA, out / geometry.FILE)
        write_parquet(robust_score.table(board).assign(schema_version=SCHEMA_VERSION), ROBUST_SCHEMA,
                      out / robust_score.FILE)
        faults.checkpoint("aggregate")
        write_parquet(d, DELTAS_SCHEMA, out / "deltas.parquet")
        with timers.timed("family summary"):
            write_parquet(family.summarise(results_dir, board, workers=stats_workers), FAMILY_SCHEMA,
                          out / FAMILY_FILE)
    with timers.timed("controls (paraphrase, ranks)"):  # paraphrase spreads (blog − none: the deltas'), ranks, τ
        controls.write(out, *controls.tables(board, results_dir, deltas=d))
    for line in disagreement_lines(d):
        log.warning("interval and test disagree: %s", line)
    return board, d
