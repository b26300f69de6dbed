"""Multiplicity: which deltas are adjusted together, how, and the verdicts that follow (the second stage of the
adaptive permutation tests of :mod:`harness.stats.permutation`).

**Families** (one line): *one model × one kind of comparison* — its deltas against ``none`` (``total``), its
deltas against ``format`` (``over_format``), and its decomposition parts (``prefix``, ``any_instruction``,
``content``, ``mismatch``: :mod:`harness.analysis.decomposition`) — each adjusted on its own, over every task,
subset view and split of that model. Rows that compare the same two input sets (``decomposition.SAME_TEST``) are
one test within a family; the same test may sit in two families (e.g. placebo − none is a delta against ``none``
and, where ``format`` adds nothing, the decomposition's ``any_instruction``) and is adjusted in each. No family
spans two models, so adding a model (or a model's set) never changes another model's adjusted p or verdict.

**Adjustment**: Holm (default; family-wise error) or Benjamini–Hochberg (``bh``; false-discovery rate), recorded
per row (``adjust_method``), with the family (``family``) and its number of distinct tests (``family_size``).
``p_holm`` is always the Holm-adjusted p within the row's family; ``p_adjusted`` is the chosen method's.

**Verdicts**: a Monte-Carlo p carries an interval (``p_mc_low``, ``p_mc_high``). Both adjustments are monotone in
every p of the family, so adjusting the lower ends gives a lower bound of each adjusted p and adjusting the upper
ends an upper bound: ``significant`` when the upper bound is below alpha, ``not significant`` when the lower bound
is at or above it, else undetermined. The first stage (:func:`harness.stats.engine.paired_stats`) decides each
delta against alpha alone; here every test of an undetermined verdict that can draw more is redrawn with ten
times its swaps (the same stream: its first swaps are the ones it had) up to ``max_permutations``, and the family
is adjusted again, until every verdict is determined or at the limit (``undetermined at R``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.decomposition import DECOMPOSITION, OVER_FORMAT, SAME_TEST, TOTAL
from harness.stats.permutation import MAX_PERMUTATIONS, PermutationResult

log = logging.getLogger(__name__)
ALPHA = 0.05
METHODS = ("holm", "bh")
KINDS = {TOTAL: "deltas vs none", OVER_FORMAT: "deltas vs format", **dict.fromkeys(DECOMPOSITION, "decomposition")}
SIGNIFICANT, NOT_SIGNIFICANT, UNDETERMINED = "significant", "not significant", "undetermined at"
GROWTH = 10  # each second-stage redraw multiplies a test's swaps by this
COLUMNS = ["p_holm", "p_adjusted", "adjust_method", "family", "family_size", "verdict"]
Rerun = Callable[[int, int], PermutationResult | None]  # (a row of the test, swaps) → the test redrawn


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN left out of the family)."""
    from harness.stats.engine import holm as _holm

    return _holm(p)


def bh(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (scipy's ``false_discovery_control``; NaN left out)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = false_discovery_control(p[ok], method="bh")
    return out


def adjusted(p: np.ndarray, method: str) -> np.ndarray:
    if method not in METHODS:
        raise ValueError(f"multiplicity method must be one of {', '.join(METHODS)}, not {method!r}")
    return holm(p) if method == "holm" else bh(p)


def family_labels(d: pd.DataFrame) -> pd.Series:
    """Each row's family: ``<alias> · <kind>`` (``<alias>@<revision>`` where an alias has several revisions);
    None for an effect outside :data:`KINDS`."""
    several = d.groupby("alias").revision.nunique()
    names = [f"{a}@{r}" if several.get(a, 1) > 1 else str(a) for a, r in zip(d.alias, d.revision, strict=True)]
    kinds = d.effect.map(KINDS)
    return pd.Series([None if pd.isna(k) else f"{n} · {k}" for n, k in zip(names, kinds, strict=True)],
                     index=d.index, dtype="object")


def test_ids(d: pd.DataFrame) -> pd.Series:
    """Rows with equal ids compare the same two input sets: one test."""
    return pd.util.hash_pandas_object(d[SAME_TEST], index=False)


@dataclass
class Summary:
    families: int = 0
    tests: int = 0
    redrawn: int = 0  # second-stage redraws (a test may be redrawn several times)
    undetermined: int = 0
    permutations: int = 0  # swaps behind the final p-values, summed over distinct tests


def _bounds(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.where(np.isnan(lo), p, np.minimum(lo, p))
    hi = np.where(np.isnan(hi), p, np.maximum(hi, p))
    return lo, hi


def _verdicts(adj_lo: np.ndarray, adj_hi: np.ndarray, n_perm: np.ndarray, alpha: float) -> list[str]:
    out = []
    for lo, hi, r in zip(adj_lo, adj_hi, n_perm, strict=True):
        out.append(SIGNIFICANT if hi < alpha else NOT_SIGNIFICANT if lo >= alpha else f"{UNDETERMINED} {int(r)}")
    return out


def adjust(d: pd.DataFrame, *, method: str = "holm", alpha: float = ALPHA, rerun: Rerun | None = None,
           max_permutations: int = MAX_PERMUTATIONS) -> Summary:
    """Fill :data:`COLUMNS` of a deltas frame in place (rows with a ``p_value``), redrawing undetermined tests with
    ``rerun`` (see the module docstring); returns what was done."""
    adjusted(np.array([0.5]), method)  # an unknown method fails before anything is written
    for col in COLUMNS:
        d[col] = None
    summary = Summary()
    has_p = d.p_value.notna()
    if not has_p.any():
        return summary
    tests = test_ids(d)
    fam = family_labels(d)
    rows = d[has_p & fam.notna()]
    by_family = {f: g.index for f, g in rows.groupby(fam[rows.index], sort=True)}
    summary.families = len(by_family)
    firsts = {f: idx[~tests[idx].duplicated().to_numpy()] for f, idx in by_family.items()}  # one row per test

    def state(first: pd.Index) -> tuple[np.ndarray, np.ndarray, list[str]]:
        p = d.loc[first, "p_value"].to_numpy(np.float64)
        lo, hi = _bounds(p, d.loc[first, "p_mc_low"].to_numpy(np.float64),
                         d.loc[first, "p_mc_high"].to_numpy(np.float64))
        n_perm = d.loc[first, "n_permutations"].to_numpy(np.float64)
        return p, n_perm, _verdicts(adjusted(lo, method), adjusted(hi, method), n_perm, alpha)

    while rerun is not None:  # every round multiplies an open test's swaps by GROWTH: it ends at the limit
        open_: dict[int, int] = {}  # test id → a row of it
        for first in firsts.values():
            _, n_perm, verdict = state(first)
            for i, v, r, m in zip(first, verdict, n_perm, d.loc[first, "p_method"], strict=True):
                if v.startswith(UNDETERMINED) and m == "permutation" and r < max_permutations:
                    open_.setdefault(int(tests[i]), i)
        redrawn = 0
        asked = [(i, int(min(GROWTH * int(d.at[i, "n_permutations"]), max_permutations))) for i in open_.values()]
        many = getattr(rerun, "many", None)  # a round's redraws at once (in the statistics pool): same results
        results = many(asked) if many is not None else [rerun(i, n) for i, n in asked]
        for (i, _), got in zip(asked, results, strict=True):
            if got is None:
                continue
            redrawn += 1
            same = d.index[tests == tests[i]]
            d.loc[same, ["p_value", "n_permutations", "p_method", "n_extreme", "p_mc_low", "p_mc_high", "p_tail",
                         "p_stop"]] = [got.p, got.n_permutations, got.method, got.n_extreme, got.p_low, got.p_high,
                                       np.nan if got.p_tail is None else got.p_tail, got.stop]
        summary.redrawn += redrawn
        if not redrawn:
            break
    counted: set[int] = set()
    for f, first in firsts.items():
        p, n_perm, verdict = state(first)
        per_test = pd.DataFrame({"p_holm": holm(p), "p_adjusted": adjusted(p, method), "verdict": verdict},
                                index=tests[first].to_numpy())
        members = by_family[f]
        ids = tests[members].to_numpy()
        d.loc[members, "p_holm"] = per_test.p_holm.reindex(ids).to_numpy()
        d.loc[members, "p_adjusted"] = per_test.p_adjusted.reindex(ids).to_numpy()
        d.loc[members, "verdict"] = per_test.verdict.reindex(ids).to_numpy()
        d.loc[members, "family"] = f
        d.loc[members, "family_size"] = len(first)
        d.loc[members, "adjust_method"] = method
        summary.undetermined += sum(v.startswith(UNDETERMINED) for v in verdict)
        for i, r in zip(first, n_perm, strict=True):
            if int(tests[i]) not in counted:
                counted.add(int(tests[i]))
                summary.permutations += 0 if np.isnan(r) else int(r)
    summary.tests = len(counted)
    return summary


class Redraw:
    """The second stage's redraw of one delta's test: ``inputs`` maps a test id to (task type, metric, the two
    prediction frames, seed, unit, the delta's statistics-cache key); each redraw is cached under that key and its
    swap count. :meth:`many` redraws a round's tests at once, the cache's misses in the statistics pool
    (:func:`harness.stats.engine.redraw_many`; each from its own seed, so the same whatever the workers)."""

    def __init__(self, inputs: dict[int, tuple[object, ...]], tests: pd.Series, workers: int | None = None):
        self.inputs, self.tests, self.workers = inputs, tests, workers

    def __call__(self, row: int, n_permutations: int) -> PermutationResult | None:
        return self.many([(row, n_permutations)])[0]

    def many(self, asked: list[tuple[int, int]]) -> list[PermutationResult | None]:
        import hashlib

        from harness.stats import engine, stats_cache

        out: list[PermutationResult | None] = [None] * len(asked)
        todo: list[tuple[int, str, tuple[object, ...]]] = []
        with stats_cache.StatsCache() as cache:
            for n, (row, n_permutations) in enumerate(asked):
                got = self.inputs.get(int(self.tests[row]))
                if got is None:
                    continue
                task_type, metric, a, b, seed, unit, key = got
                k = hashlib.sha256(f"{key}\x1fredraw\x1f{n_permutations}".encode()).hexdigest()
                hit = cache.get_permutation(k)
                if hit is not None:
                    out[n] = hit
                    continue
                if callable(a) or callable(b):  # read only now (a warm stage 1 reads no predictions)
                    a, b = a() if callable(a) else a, b() if callable(b) else b
                    if a is None or b is None:
                        continue
                todo.append((n, k, (str(task_type), str(metric), a, b, int(seed),  # type: ignore[call-overload]
                                    None if unit is None else str(unit), n_permutations)))
            from harness.core import timers

            with timers.timed(engine.REDRAW_TIMER):
                computed = engine.redraw_many([job for *_, job in todo], workers=self.workers)
            for (n, k, _), res in zip(todo, computed, strict=True):
                if res is not None:
                    cache.put_permutation(k, res)
                out[n] = res
        return out


def redraw(inputs: dict[int, tuple[object, ...]], tests: pd.Series, workers: int | None = None) -> Redraw:
    """:class:`Redraw` (a :data:`Rerun` with a batch form)."""
    return Redraw(inputs, tests, workers)
