"""The answer first: per model, which conditions moved which main scores significantly, by how much (with 95%
CIs), which conditions fed the same strings as ``none``, and how far each condition shifts the embeddings (does
the model read the instruction at all?).

Computed from ``leaderboard.parquet`` + ``deltas.parquet`` only. :func:`text` renders it for the console,
:func:`markdown` for ``report.md`` and the dataset card; :mod:`harness.report.headline` renders the HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from harness.analysis import folding
from harness.analysis.decomposition import plain_deltas
from harness.core import markdown as md
from harness.prompts.conditions import BASELINE, order_conditions
from harness.results.schema import SHIFT_PREFIX, identical_inputs, row_significant

ALPHA = 0.05
TINY_SHIFT = 0.01  # a mean shift below this: the prefix barely moves the embeddings


@dataclass(frozen=True)
class Move:
    """One main-metric delta of a condition against its baseline."""

    task: str
    subset: str
    metric: str
    baseline_score: float
    score: float
    delta: float
    ci_low: float | None
    ci_high: float | None
    p_holm: float | None
    significant: bool = False  # the row's verdict after its family's adjustment (schema.row_significant)

    @property
    def where(self) -> str:
        return self.task if self.subset == "default" else f"{self.task}/{self.subset}"

    def ci(self) -> str:
        return "no CI" if self.ci_low is None or self.ci_high is None else f"[{self.ci_low:+.3f}, {self.ci_high:+.3f}]"

    def describe(self) -> str:
        return (f"{self.where} {self.metric} {self.baseline_score:.3f} → {self.score:.3f}, Δ {self.delta:+.3f} "
                f"{self.ci()}")


@dataclass
class Verdict:
    """A condition against a baseline, over every task of one model."""

    condition: str
    baseline: str
    significant: list[Move] = field(default_factory=list)  # Holm p < ALPHA, largest |Δ| first
    other: list[Move] = field(default_factory=list)  # tested, not significant (or without a p-value)

    @property
    def n(self) -> int:
        return len(self.significant) + len(self.other)


@dataclass
class ModelHeadline:
    alias: str
    model: str
    revision: str
    same_as_none: dict[str, tuple[int, int]]  # condition (or "a = b") → (tasks with the strings of none, tasks)
    verdicts: list[Verdict]
    shift: dict[str, dict[str, float]]  # condition → role → mean embedding shift over tasks

    def folded(self) -> list[str]:
        """Conditions that fed exactly the strings of none on every task."""
        return [c for c, (same, total) in self.same_as_none.items() if same == total]

    def lines(self) -> list[str]:
        out = [f"{self.alias} ({self.model} @ {self.revision})"]
        folded = order_conditions(self.folded())
        if folded:
            out.append(f"  {folding.label([BASELINE, *folded])}: exactly the same strings on every task "
                       "(nothing to compare)")
        for c, (same, total) in sorted(self.same_as_none.items()):
            if same < total:
                out.append(f"  {c} = {BASELINE} on {same} of {total} tasks (it adds nothing there)")
        for v in self.verdicts:
            head = f"  {v.condition} vs {v.baseline}: "
            if v.significant:
                out.append(head + f"{len(v.significant)} of {v.n} main scores moved significantly "
                                  f"(Holm p < {ALPHA}):")
                out += [f"    {m.describe()}" for m in v.significant]
            else:
                out.append(head + f"no significant change in {v.n} main score(s)")
            if v.other:
                top = max(v.other, key=lambda m: abs(m.delta))
                out.append(f"    not significant: {len(v.other)} (largest: {top.describe()})")
        for c in self.shift:  # condition order (labels of folded groups keep their first condition's place)
            roles = self.shift[c]
            parts = ", ".join(f"{roles[r]:.3f} ({r})" for r in sorted(roles))
            tiny = " — barely moves the embeddings" if max(roles.values()) < TINY_SHIFT else ""
            out.append(f"  embedding shift under {c}: {parts}{tiny}")
        return out


def _moves(d: pd.DataFrame) -> list[Move]:
    def num(v: object) -> float | None:
        return None if pd.isna(v) else float(v)  # type: ignore[arg-type]

    return [Move(r.task, r.subset, r.metric, float(r.baseline_score), float(r.score), float(r.delta),
                 num(r.ci_low), num(r.ci_high), num(r.p_holm), row_significant(r, ALPHA)) for r in d.itertuples()]


def _shift(board: pd.DataFrame) -> dict[str, dict[str, float]]:
    """condition → role → mean shift over the tasks where the condition fed other strings than none (tasks where
    it fed the same strings would only add zeros)."""
    rows = board[(board.kind == "probe") & board.metric.str.startswith(SHIFT_PREFIX)
                 & board.metric.str.endswith("/mean")]
    groups = folding.cell_groups(board)
    as_none = {(m, r, t, c) for (m, r, t), gs in groups.items() for g in gs if BASELINE in g for c in g}
    rows = rows[[k not in as_none for k in zip(rows.model, rows.revision, rows.task, rows.condition, strict=True)]]
    out: dict[str, dict[str, float]] = {}
    for (cond, metric), g in rows.groupby(["condition", "metric"], sort=True):
        role = str(metric)[len(SHIFT_PREFIX):].split("/")[0]
        out.setdefault(str(cond), {})[role] = float(g.score.mean())
    return out


def headlines(board: pd.DataFrame, d: pd.DataFrame) -> list[ModelHeadline]:
    """One headline per model (alias, revision), in alias order."""
    same = folding.same_as_none(board)
    classes = folding.model_groups(board)
    d = plain_deltas(d)  # the decomposition's content rows (X − placebo) belong to its own table
    main = d[(d.kind == "mteb") & d.is_main & ~identical_inputs(d)]
    out = []
    for (alias, model, revision), g in board.groupby(["alias", "model", "revision"], sort=True):
        # conditions that fed the same strings on every task speak once, under a joint label ("format = official")
        label = {gr[0]: folding.label(gr) for gr in classes.get((model, revision), []) if BASELINE not in gr}
        md = main[(main.model == model) & (main.revision == revision)]
        verdicts = []
        for cond in order_conditions(set(md.condition) & set(label)):
            for base in order_conditions(set(md[md.condition == cond].baseline)):
                rows = md[(md.condition == cond) & (md.baseline == base)]
                moves = _moves(rows.sort_values(["task", "subset"]))
                sig = [m for m in moves if m.significant]
                verdicts.append(Verdict(label[cond], base, sorted(sig, key=lambda m: -abs(m.delta)),
                                        [m for m in moves if m not in sig]))
        raw = _shift(g)
        shift = {label[c]: raw[c] for c in order_conditions(list(raw)) if c in label}
        equal = same.get((model, revision), {})
        equal = {label.get(c, c): v for c, v in equal.items() if c in label or v[0] == v[1]}
        out.append(ModelHeadline(str(alias), str(model), str(revision), equal, verdicts, shift))
    return out


NOTE = (f"Significant: paired permutation p, Holm-adjusted within the model's deltas against the same baseline, "
        f"< {ALPHA} even at the ends of p's Monte-Carlo interval; [a, b]: paired-bootstrap "
        "95% CI of Δ; embedding shift: mean over texts and tasks of 1 − cosine between a text's embedding with and "
        "without the condition's prefix (0 = the model ignores the prefix; tasks where the condition fed the strings "
        "of none are left out).")


def text(board: pd.DataFrame, d: pd.DataFrame) -> str:
    """The headline for the console."""
    hs = headlines(board, d)
    if not hs:
        return "(no results)"
    return "\n".join([line for h in hs for line in h.lines()] + [f"({NOTE})"])


def markdown(board: pd.DataFrame, d: pd.DataFrame) -> str:
    """The headline as Markdown (``report.md``, the dataset card)."""
    parts = []
    for h in headlines(board, d):
        lines = h.lines()
        parts.append(f"**{md.text(lines[0])}**\n")  # names and conditions come from files: HTML-escaped
        parts += [f"- {md.text(line.strip())}" if not line.startswith("    ") else f"  - {md.text(line.strip())}"
                  for line in lines[1:]]
        parts.append("")
    parts.append(f"_{NOTE}_")
    return "\n".join(parts)
