"""Freeze the statistics' outputs on small seeded inputs (issue 23 item 1): run once with the code whose numbers
are the reference, commit ``cases.npz`` + ``reference.json``; tests/test_stats_equality.py checks that the
current code reproduces them.

    PYTHONPATH=. python -m tests.stats_reference.make_reference
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
N_BOOT = 400
N_PERM = 600


def _words(rng: np.random.Generator, n_words: int, n_lone: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n_words, 1)
    t1 = [f"w{a}" for a in i] + [f"lone{k}a" for k in range(n_lone)] + ["w0"] * 2
    t2 = [f"w{b}" for b in j] + [f"lone{k}b" for k in range(n_lone)] + ["solo0", "solo1"]
    return np.asarray(t1, dtype=object), np.asarray(t2, dtype=object)


def cases() -> dict[str, np.ndarray]:
    """Inputs by name: <case>.<column>.a / .b, <case>.text1/.text2 for the text unit."""
    rng = np.random.default_rng(20261203)
    out: dict[str, np.ndarray] = {}
    # STS, independent pairs, ties in gold and in one prediction
    n = 70
    gold = rng.integers(0, 6, n).astype(np.float64)
    pa = gold / 5 + rng.normal(0, 0.4, n)
    pb = np.round(gold / 5 + rng.normal(0, 0.5, n), 1)
    out |= {"sts_item.gold": gold, "sts_item.pred.a": pa, "sts_item.pred.b": pb}
    # STS word pairs: 11 words (55 pairs) + 3 lone pairs + 2 pairs with one recurring end
    t1, t2 = _words(rng, 11, 3)
    n = len(t1)
    effect = rng.normal(0, 1, 40)
    code = {f"w{k}": effect[k] for k in range(11)}
    base = np.array([code.get(x, 0.0) + code.get(y, 0.0) for x, y in zip(t1, t2, strict=True)])
    gold = np.round(base + rng.normal(0, 0.5, n), 2)
    out |= {"sts_text.gold": gold, "sts_text.pred.a": base + rng.normal(0, 0.6, n),
            "sts_text.pred.b": 0.5 * base + rng.normal(0, 0.6, n) + 1.0,
            "sts_text.text1": t1.astype(str), "sts_text.text2": t2.astype(str)}
    # Retrieval: per-query values
    n = 90
    va = np.clip(rng.beta(2, 2, n) + 0.05, 0, 1)
    vb = np.where(rng.random(n) < 0.3, va, np.clip(rng.beta(2, 2, n), 0, 1))
    out |= {"retrieval.value.a": va, "retrieval.value.b": vb}
    # Bitext: gold = own index, predictions mostly right
    n = 80
    g = np.arange(n, dtype=np.float64)
    out |= {"bitext.gold": g,
            "bitext.pred.a": np.where(rng.random(n) < 0.8, g, rng.integers(0, n, n)).astype(np.float64),
            "bitext.pred.b": np.where(rng.random(n) < 0.6, g, rng.integers(0, n, n)).astype(np.float64)}
    # a small null case whose swap units can be enumerated (exact p)
    n = 9
    gold = rng.normal(0, 1, n)
    out |= {"sts_small.gold": gold, "sts_small.pred.a": gold + rng.normal(0, 1, n),
            "sts_small.pred.b": gold + rng.normal(0, 1, n)}
    return out


RUNS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # (name, case, task type, metric, options)
    ("sts_item_spearman", "sts_item", "STS", "cosine_spearman", {}),
    ("sts_item_pearson", "sts_item", "STS", "cosine_pearson", {}),
    ("sts_item_spearman_fixed", "sts_item", "STS", "cosine_spearman", {"threshold": None}),
    ("sts_text_spearman", "sts_text", "STS", "cosine_spearman", {"unit": "text"}),
    ("sts_text_pearson", "sts_text", "STS", "cosine_pearson", {"unit": "text"}),
    ("sts_text_spearman_fixed", "sts_text", "STS", "cosine_spearman", {"unit": "text", "threshold": None}),
    ("retrieval_ndcg", "retrieval", "Retrieval", "ndcg_at_10", {}),
    ("bitext_accuracy", "bitext", "BitextMining", "accuracy", {}),
    ("bitext_f1", "bitext", "BitextMining", "f1", {}),
    ("bitext_precision", "bitext", "BitextMining", "precision", {}),
    ("bitext_recall", "bitext", "BitextMining", "recall", {"threshold": None}),
    ("sts_small_spearman", "sts_small", "STS", "cosine_spearman", {}),
]


def columns(data: dict[str, np.ndarray], case: str, side: str) -> dict[str, np.ndarray]:
    out = {}
    for key, v in data.items():
        parts = key.split(".")
        if parts[0] != case or parts[1].startswith("text"):
            continue
        if len(parts) == 2 or parts[2] == side:
            out[parts[1]] = np.asarray(v, dtype=np.float64)
    return out


def run(data: dict[str, np.ndarray], name: str, case: str, task_type: str, metric: str,
        options: dict[str, Any]) -> dict[str, Any]:
    """Every output of one delta: paired_stats' fields, the bootstrap deltas, the permutation statistics of the
    first swaps, the jackknife variance, the family-summary score draws."""
    from harness.stats import bootstrap, engine, permutation, units

    m = engine.metric_for(task_type, metric)
    assert m is not None
    a, b = columns(data, case, "a"), columns(data, case, "b")
    n = len(next(iter(a.values())))
    opts = dict(options)
    unit = opts.pop("unit", None)
    u = units.text_units(data[f"{case}.text1"], data[f"{case}.text2"]) if unit == "text" else units.Units.items(n)
    seed = engine.seed_for("reference", name)
    st = engine.paired_stats(m, a, b, seed=seed, units=u, n_bootstrap=N_BOOT, n_permutations=N_PERM, **opts)
    boot_rng, _perm_rng = engine._rngs(seed)
    boot = bootstrap.bootstrap_deltas(m, a, b, N_BOOT, boot_rng, units=u)
    w = units.resample_weights(u, 50, np.random.default_rng(7))
    score_w = m.weighted(a, w)
    null = permutation._prepare_null(m, a, b, u)
    swaps = np.random.default_rng(8).random((64, null.n_swap_units)) < 0.5
    perm = permutation._swap_stats(null, swaps)
    tv = bootstrap.text_variance(m, a, b, u)
    fields = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in st.__dict__.items()}
    return {"stats": fields, "boot": boot.tolist(), "score_w": score_w.tolist(), "perm": perm.tolist(),
            "text_variance": tv}


def main() -> None:
    data = cases()
    np.savez(HERE / "cases.npz", **data)
    ref = {name: run(data, name, case, tt, metric, opts) for name, case, tt, metric, opts in RUNS}
    (HERE / "reference.json").write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
    print(f"{len(ref)} references written to {HERE}")


if __name__ == "__main__":
    main()
