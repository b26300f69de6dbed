"""The headline (per model: what moved significantly, by how much, the embedding shift) and the folding of
conditions with identical inputs, on hand-made tables with known answers; and the language-split panels."""

from __future__ import annotations

import pandas as pd

from harness.analysis import folding, headline
from harness.report import plots

SHA = {"none": "a", "format": "a", "official": "b", "blog": "c"}


def _board() -> pd.DataFrame:
    rows = []
    for task, sha_official in (("T1", "b"), ("T2", "a")):  # official = none on T2 only (no instruction there)
        for cond in ("none", "format", "official", "blog"):
            sha = sha_official if cond == "official" else SHA[cond]
            base = {"alias": "m", "model": "org/m", "revision": "r1", "condition": cond, "instruction_sha256": sha,
                    "task": task, "subset": "default", "split": "test"}
            rows.append(base | {"kind": "mteb", "metric": "ndcg_at_10", "is_main": True, "score": 0.5})
            shift = 0.0 if sha == "a" else (0.2 if cond == "blog" else 0.004)
            rows.append(base | {"kind": "probe", "metric": "embedding_shift/query/mean", "is_main": False,
                                "score": shift})
    return pd.DataFrame(rows)


def _deltas() -> pd.DataFrame:
    def row(task: str, cond: str, delta: float, lo: float | None, hi: float | None, p: float | None,
            method: str) -> dict:
        return {"alias": "m", "model": "org/m", "revision": "r1", "task": task, "subset": "default", "split": "test",
                "kind": "mteb", "metric": "ndcg_at_10", "is_main": True, "condition": cond, "baseline": "none",
                "baseline_score": 0.5, "score": 0.5 + delta, "delta": delta, "ci_low": lo, "ci_high": hi,
                "p_holm": p, "p_method": method}

    return pd.DataFrame([
        row("T1", "format", 0.0, 0.0, 0.0, None, "identical inputs"),
        row("T2", "format", 0.0, 0.0, 0.0, None, "identical inputs"),
        row("T1", "official", 0.01, -0.02, 0.04, 0.6, "permutation"),
        row("T2", "official", 0.0, 0.0, 0.0, None, "identical inputs"),
        row("T1", "blog", -0.25, -0.3, -0.2, 0.001, "permutation"),
        row("T2", "blog", 0.1, 0.05, 0.15, 0.01, "permutation"),
    ])


def test_folding_groups_conditions_by_instruction_hash() -> None:
    assert folding.groups({"blog": "c", "format": "a", "none": "a"}) == [["none", "format"], ["blog"]]
    groups = folding.cell_groups(_board())
    assert groups[("org/m", "r1", "T1")] == [["none", "format"], ["official"], ["blog"]]
    assert groups[("org/m", "r1", "T2")] == [["none", "format", "official"], ["blog"]]
    assert folding.same_as_none(_board()) == {("org/m", "r1"): {"format": (2, 2), "official": (1, 2)}}


def test_headline_names_what_moved_with_intervals_and_the_shift() -> None:
    [h] = headline.headlines(_board(), _deltas())
    assert h.folded() == ["format"]
    blog = next(v for v in h.verdicts if v.condition == "blog")
    assert [m.task for m in blog.significant] == ["T1", "T2"]  # largest |Δ| first
    assert headline.text(_board(), _deltas()).splitlines()[:10] == [
        "m (org/m @ r1)",
        "  none = format: exactly the same strings on every task (nothing to compare)",
        "  official = none on 1 of 2 tasks (it adds nothing there)",
        "  official vs none: no significant change in 1 main score(s)",
        "    not significant: 1 (largest: T1 ndcg_at_10 0.500 → 0.510, Δ +0.010 [-0.020, +0.040])",
        "  blog vs none: 2 of 2 main scores moved significantly (Holm p < 0.05):",
        "    T1 ndcg_at_10 0.500 → 0.250, Δ -0.250 [-0.300, -0.200]",
        "    T2 ndcg_at_10 0.500 → 0.600, Δ +0.100 [+0.050, +0.150]",
        "  embedding shift under official: 0.004 (query) — barely moves the embeddings",
        "  embedding shift under blog: 0.200 (query)",
    ]
    md = headline.markdown(_board(), _deltas())
    assert md.startswith("**m (org/m @ r1)**") and "- blog vs none: 2 of 2" in md and "  - T1 ndcg_at_10" in md


def test_language_panels_with_identical_inputs_are_drawn_once() -> None:
    def panel(cond: str, sha: str, task: str = "Mixed") -> plots.Panel:
        return plots.Panel("m", "org/m", "r1", cond, task, "", pd.DataFrame(), {}, sha)

    groups = plots._groups([panel("blog", "c"), panel("format", "a"), panel("none", "a"), panel("official", "b")])
    assert [(t, conds) for t, _, conds, _ in groups] == [("Mixed", ["none", "format"]), ("Mixed", ["official"]),
                                                          ("Mixed", ["blog"])]
