"""The effect decomposition: which part of a delta is the format prefix, which the mere presence of an instruction,
and which what the instruction says.

Per model × task × subset × split, each a row of ``deltas.parquet`` with its ``effect`` (paired-bootstrap 95% CI,
permutation p and Holm within the model's decomposition parts, :mod:`harness.analysis.multiplicity`):

=================  ==========================  ==========================================================
effect             condition − baseline        question
=================  ==========================  ==========================================================
``prefix``         format − none               does the model's format prefix (``query: ``) alone move it?
``any_instruction``  placebo − format          does *an* instruction move it, whatever it says?
``content``        X − placebo                 does what X's instruction says matter, beyond having one?
``mismatch``       mismatched − none           does an instruction written for another task move it?
``total``          X − none (any other X)      everything X does
``over_format``    X − format (any other X)    everything X does beyond the format prefix
``placement``      X@both − X@query            does putting X's instruction on the documents too matter?
``language``       X_deu − X                   does writing the instruction in German (for German texts)
                                               instead of English matter?
=================  ==========================  ==========================================================

``placement`` rows exist for every set X whose ``@query`` and ``@both`` cells both ran (asymmetric tasks only:
a symmetric task has one side, :meth:`harness.prompts.conditions.Condition.applies`); ``language`` rows for every
German set ``X_deu`` (:func:`english_of`: ``paraphrase_deu#k`` − ``paraphrase#k``; ``blog_deu#1``, the one variant
of ``blog_deu``, − ``blog``) on the German texts only: the ``_deu`` subsets of STS tasks and retrieval tasks (whose
German side the set instructs in German; instructions/sets/blog_deu.yaml).

For an instructed condition X the parts add up exactly: X − none = prefix + any_instruction + content(X).
``content`` rows exist for every instructed condition (official, blog, each paraphrase variant, any other set;
not the controls) whose inputs differ from ``format``'s: a model without an official instruction has no content
effect for ``official``. The ``any_instruction`` row exists even where ``format`` adds nothing (it is then the same
comparison as placebo − none, and :mod:`harness.analysis.aggregate` tests it once).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.prompts.conditions import BASELINE, FORMAT_BASELINE, placement_name, split_placement
from harness.prompts.schema import split_variant, variant_name
from harness.results.schema import row_identical, row_significant

PLACEBO = "placebo"
MISMATCHED = "mismatched"
CONTROLS = (BASELINE, FORMAT_BASELINE, PLACEBO, MISMATCHED)
TOTAL, OVER_FORMAT = "total", "over_format"
PREFIX, ANY_INSTRUCTION, CONTENT, MISMATCH = "prefix", "any_instruction", "content", "mismatch"
PLACEMENT, LANGUAGE = "placement", "language"
PARTS = (PREFIX, ANY_INSTRUCTION, CONTENT)  # X − none = prefix + any_instruction + content(X)
DECOMPOSITION = (*PARTS, MISMATCH, PLACEMENT, LANGUAGE)
GERMAN_SUFFIX = "_deu"  # a German instruction set is named <English set>_deu


def english_of(condition: str, present: set[str] | frozenset[str]) -> str | None:
    """The English condition a German one (``<set>_deu[#k][@placement]``) is contrasted with, among ``present``:
    the same variant of the English set, or the English plain set for variant 1 of a German set whose English
    source has no variants (``blog_deu#1`` → ``blog``)."""
    plain, where = split_placement(condition)
    base, k = split_variant(plain)
    if not base.endswith(GERMAN_SUFFIX) or len(base) == len(GERMAN_SUFFIX):
        return None
    english = base[: -len(GERMAN_SUFFIX)]
    for name in ([variant_name(english, k)] if k else []) + ([english] if k in (None, 1) else []):
        full = placement_name(name, where) if where else name
        if full in present:
            return full
    return None


def german_texts(board: pd.DataFrame) -> pd.Series:
    """Rows whose texts are German (where a language contrast is read): ``_deu`` subsets, subsets named ``deu``
    (ScaleWordClustering, ScaleEndPairClassification), and retrieval and reranking tasks (the translation tasks)."""
    sub = board.subset.astype(str)
    return sub.str.endswith(GERMAN_SUFFIX) | (sub == "deu") | board.task_type.isin(["Retrieval", "Reranking"])
_CELL = ["model", "revision", "task"]
# rows comparing the same two sets of inputs are one comparison (one test in a multiplicity family)
SAME_TEST = ["model", "revision", "task", "subset", "split", "metric", "instruction_sha256", "baseline_sha256"]


def effect_of(condition: str, baseline: str) -> str:
    """The ``effect`` label of a delta row (condition − baseline)."""
    base, where = split_placement(condition)
    if where == "both" and baseline == placement_name(base, "query"):
        return PLACEMENT
    if english_of(condition, {baseline}) == baseline:
        return LANGUAGE
    if baseline == PLACEBO:
        return CONTENT
    if baseline == FORMAT_BASELINE:
        return ANY_INSTRUCTION if condition == PLACEBO else OVER_FORMAT
    if condition == FORMAT_BASELINE:
        return PREFIX
    return MISMATCH if condition == MISMATCHED else TOTAL


def label(df: pd.DataFrame) -> pd.Series:
    """``effect`` of every row of a deltas frame."""
    return pd.Series([effect_of(c, b) for c, b in zip(df.condition, df.baseline, strict=True)], index=df.index,
                     dtype="object")


def _cell_sha(board: pd.DataFrame, condition: str) -> pd.DataFrame:
    rows = board[board.condition == condition][[*_CELL, "instruction_sha256"]].drop_duplicates(_CELL)
    return rows.rename(columns={"instruction_sha256": f"sha_{condition}"})


def comparisons(board: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The comparisons the decomposition adds to the plain deltas (X − none, X − format where format adds
    prefixes): (baseline, leaderboard rows of the conditions compared with it).

    - X − placebo for every instructed condition X whose cell's inputs differ from ``format``'s (or from
      ``none``'s where ``format`` did not run);
    - placebo − format where ``format`` adds no prefixes (the plain deltas have it where it does)."""
    out: list[tuple[str, pd.DataFrame]] = []
    cells = board[[*_CELL, "condition", "instruction_sha256"]].drop_duplicates([*_CELL, "condition"])
    if (board.condition == PLACEBO).any():
        instructed = cells[~cells.condition.isin(CONTROLS)]
        ref = _cell_sha(board, FORMAT_BASELINE).merge(_cell_sha(board, BASELINE), on=_CELL, how="outer")
        ref["sha_ref"] = ref[f"sha_{FORMAT_BASELINE}"].fillna(ref[f"sha_{BASELINE}"])
        instructed = instructed.merge(ref[[*_CELL, "sha_ref"]], on=_CELL, how="left")
        keep = instructed[instructed.instruction_sha256 != instructed.sha_ref][[*_CELL, "condition"]]
        out.append((PLACEBO, board.merge(keep, on=[*_CELL, "condition"])))
    fmt, none = _cell_sha(board, FORMAT_BASELINE), _cell_sha(board, BASELINE)
    same = fmt.merge(none, on=_CELL)
    same = same[same[f"sha_{FORMAT_BASELINE}"] == same[f"sha_{BASELINE}"]][_CELL]
    placebo = board[board.condition == PLACEBO].merge(same, on=_CELL)
    if not placebo.empty:
        out.append((FORMAT_BASELINE, placebo))
    present = set(board.condition)
    for cond in sorted(present):
        base, where = split_placement(cond)
        if where == "both" and placement_name(base, "query") in present:
            out.append((placement_name(base, "query"), board[board.condition == cond]))
        english = english_of(cond, present)
        if english is not None:
            out.append((english, board[(board.condition == cond) & german_texts(board)]))
    return out


# -- reading the decomposition back (console and report) ----------------------------------------------------
def main_effects(d: pd.DataFrame) -> pd.DataFrame:
    """The decomposition rows (main metric) of a deltas frame, sorted."""
    if "effect" not in d.columns:
        return d.iloc[0:0]
    rows = d[(d.kind == "mteb") & d.is_main & d.effect.isin(DECOMPOSITION)].copy()
    order = {e: i for i, e in enumerate(DECOMPOSITION)}
    rows["_o"] = rows.effect.map(order)
    return rows.sort_values(["alias", "task", "subset", "split", "_o", "condition"]).drop(columns="_o")


def _cell_text(r: pd.Series | None, alpha: float) -> str:
    if r is None:
        return "—"
    if row_identical(r):
        return f"{0:+.3f} (same inputs)"
    ci = f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if pd.notna(r.ci_low) else "[no CI]"
    star = "*" if row_significant(r, alpha) else ""
    return f"{r.delta:+.3f} {ci}{star}"


def columns_for(effects: pd.DataFrame, content_of: list[str]) -> list[tuple[str, str, str | None]]:
    """(header, effect, condition or None) of the wide table: prefix, any instruction, content of each of
    ``content_of`` (those present), mismatch."""
    cols: list[tuple[str, str, str | None]] = [("prefix", PREFIX, None), ("any instr.", ANY_INSTRUCTION, None)]
    present = set(effects[effects.effect == CONTENT].condition)
    cols += [(f"content {c}", CONTENT, c) for c in content_of if c in present]
    cols.append(("mismatch", MISMATCH, None))
    for effect, what in ((PLACEMENT, "placement"), (LANGUAGE, "language")):
        for c in sorted(set(effects[effects.effect == effect].condition)):
            cols.append((f"{what} {split_placement(c)[0]}", effect, c))
    return cols


def wide(d: pd.DataFrame, *, content_of: tuple[str, ...] = ("official", "blog"), alpha: float = 0.05
         ) -> pd.DataFrame:
    """One row per model × task × subset × split: each effect as ``Δ [95% CI]`` (``*``: Holm p < alpha)."""
    eff = main_effects(d)
    if eff.empty:
        return pd.DataFrame()
    cols = columns_for(eff, list(content_of))
    first: dict[tuple[Any, ...], int] = {}  # (model, task, subset, split, effect[, condition]) → first row
    for pos, (alias, task, subset, split, effect, cond) in enumerate(zip(
            eff.alias, eff.task, eff.subset, eff.split, eff.effect, eff.condition, strict=True)):
        first.setdefault((alias, task, subset, split, effect), pos)
        first.setdefault((alias, task, subset, split, effect, cond), pos)
    rows = []
    for alias, task, subset, split in sorted(set(zip(eff.alias, eff.task, eff.subset, eff.split, strict=True))):
        row = {"model": alias, "task": task, "subset": subset, "split": split}
        for header, effect, cond in cols:
            hit = first.get((alias, task, subset, split, effect, *([cond] if cond else [])))
            row[header] = _cell_text(eff.iloc[hit] if hit is not None else None, alpha)
        rows.append(row)
    return pd.DataFrame(rows)


def table(d: pd.DataFrame, *, alpha: float = 0.05) -> str:
    """The decomposition for the console: the wide table and a note on the Holm family."""
    w = wide(d, alpha=alpha)
    if w.empty:
        return "(no decomposition: run none, format, placebo and an instructed condition such as blog)"
    widths = {c: max(len(c), *(len(str(v)) for v in w[c])) for c in w.columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in w.columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in w.columns) for _, r in w.iterrows()]
    lines.append(_footnote(d, alpha))
    return "\n".join(line.rstrip() for line in lines)


def _footnote(d: pd.DataFrame, alpha: float) -> str:
    main = main_effects(d)
    tested = main.dropna(subset=["family"]) if "family" in main.columns else main.iloc[0:0]
    sizes = "; ".join(f"{r.family}: {int(r.family_size)} tests" for r in
                      tested.drop_duplicates("family").sort_values("family").itertuples())
    text = (f"(Δ [95% paired-bootstrap CI]; * significant at {alpha} after "
            f"{'Holm' if tested.empty or tested.adjust_method.iloc[0] == 'holm' else 'Benjamini–Hochberg'} "
            f"within each model's decomposition parts ({sizes or 'no tests'}); prefix = format − none, any instr. = "
            "placebo − format, content X = X − placebo, mismatch = mismatched − none; blog − none = prefix + any "
            "instr. + content blog")
    undetermined = int(tested.verdict.str.startswith("undetermined").sum()) if not tested.empty else 0
    if undetermined:
        text += f"; {undetermined} undetermined at the most swaps drawn (10^6)"
    return text + ")"


def plain_deltas(d: pd.DataFrame) -> pd.DataFrame:
    """The deltas without the rows only the decomposition needs: no content rows (X − placebo), and no
    placebo − format row that repeats placebo − none (format adding nothing)."""
    if "effect" not in d.columns:
        return d
    keep = d.effect != CONTENT
    repeat = (d.effect == ANY_INSTRUCTION) & d.duplicated(SAME_TEST, keep=False)
    return d[keep & ~repeat]
