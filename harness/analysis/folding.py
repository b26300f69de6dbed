"""Conditions that fed a model exactly the same strings: found by their instruction hash, shown once.

Two cells of the same model and task whose ``instruction_sha256`` is equal put the same prefix before every text,
so their embeddings, scores and figures are identical by construction (e.g. ``format`` and ``official`` of MiniLM,
which has neither format prefixes nor official instructions, are both ``none``). Readers fold such conditions into
one row or panel labelled ``none = format = official`` instead of repeating zeros and identical pictures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.prompts.conditions import BASELINE, condition_order, order_conditions
from harness.results.schema import identical_inputs

SEP = " = "


def groups(shas: dict[str, str]) -> list[list[str]]:
    """{condition: instruction hash} → conditions grouped by equal hash, each group and the groups in condition
    order (the group holding ``none`` first)."""
    by_sha: dict[str, list[str]] = {}
    for cond in order_conditions(list(shas)):
        by_sha.setdefault(shas[cond], []).append(cond)
    return list(by_sha.values())


def label(group: Iterable[str]) -> str:
    return SEP.join(group)


def cell_groups(board: pd.DataFrame) -> dict[tuple[str, str, str], list[list[str]]]:
    """(model, revision, task) → its conditions grouped by identical inputs (from the leaderboard)."""
    sha = board[["model", "revision", "task", "condition", "instruction_sha256"]].drop_duplicates()
    out = {}
    for key, g in sha.groupby(["model", "revision", "task"], sort=True):
        out[(str(key[0]), str(key[1]), str(key[2]))] = groups(dict(zip(g.condition, g.instruction_sha256,
                                                                       strict=True)))
    return out


def common_groups(partitions: list[list[list[str]]]) -> list[list[str]]:
    """Conditions that are in one group in *every* partition that holds either of them (e.g. equal on every task
    of a model, or on every row of a table), grouped in condition order."""
    where: dict[str, list[int]] = {}
    for i, part in enumerate(partitions):
        for g in part:
            for c in g:
                where.setdefault(c, []).append(i)

    def together(a: str, b: str) -> bool:
        if where[a] != where[b]:
            return False
        return all(any(a in g and b in g for g in partitions[i]) for i in where[a])

    out: list[list[str]] = []
    for c in order_conditions(list(where)):
        for g in out:
            if all(together(c, o) for o in g):
                g.append(c)
                break
        else:
            out.append([c])
    return out


def model_groups(board: pd.DataFrame) -> dict[tuple[str, str], list[list[str]]]:
    """(model, revision) → its conditions grouped by identical inputs on every task."""
    by_model: dict[tuple[str, str], list[list[list[str]]]] = {}
    for (model, revision, _task), gs in cell_groups(board).items():
        by_model.setdefault((model, revision), []).append(gs)
    return {k: common_groups(v) for k, v in by_model.items()}


def same_as_none(board: pd.DataFrame) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """(model, revision) → {condition: (tasks where it fed the same strings as none, tasks with both)} for every
    condition other than none that equals none on at least one task."""
    out: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for (model, revision, _task), gs in cell_groups(board).items():
        conds = {c for g in gs for c in g}
        if BASELINE not in conds:
            continue
        base = next(g for g in gs if BASELINE in g)
        entry = out.setdefault((model, revision), {})
        for c in conds - {BASELINE}:
            same, total = entry.get(c, (0, 0))
            entry[c] = (same + (c in base), total + 1)
    return {k: {c: v for c, v in e.items() if v[0]} for k, e in out.items()}


@dataclass(frozen=True)
class DeltaRow:
    """One row of a delta table after folding: a tested delta (``label`` = ``"format = official − none"``, the
    numbers of ``row``) or conditions that fed the baseline's exact strings (``identical``; ``label`` =
    ``"none = format = official"``, ``tasks`` = ``"every task"`` or the task names)."""

    row: Any  # a row (namedtuple) of deltas.parquet
    label: str
    identical: bool = False
    tasks: str = ""


def main_deltas(d: pd.DataFrame) -> pd.DataFrame:
    """Main-metric deltas by model, task, subset, then baseline and condition in condition order (none first)."""
    main = d[(d.kind == "mteb") & d.is_main].copy()
    main["identical_inputs"] = identical_inputs(main)
    main["_b"] = [condition_order(b) for b in main.baseline]
    main["_c"] = [condition_order(c) for c in main.condition]
    return main.sort_values(["alias", "task", "subset", "_b", "_c"]).drop(columns=["_b", "_c"]).reset_index(drop=True)


def fold_deltas(d: pd.DataFrame) -> list[DeltaRow]:
    """The main-metric deltas with identical inputs folded: per model and baseline, one row per group of
    conditions equal to the baseline (naming its tasks) instead of a row of zeros per condition and task; per
    task, conditions equal to each other share one row (the first's numbers: their intervals differ only by the
    seed)."""
    main = main_deltas(d)
    rows = list(main.itertuples())  # by position (main's index is 0..n-1): one pass, not one per group
    out: list[DeltaRow] = []
    for _alias, by_model in main.groupby("alias", sort=False):
        same = by_model[identical_inputs(by_model)]
        for baseline in order_conditions(set(same.baseline)):
            sb = same[same.baseline == baseline]
            by_label: dict[str, list[str]] = {}
            for task, g in sb.groupby("task", sort=True):
                by_label.setdefault(label(order_conditions([baseline, *g.condition])), []).append(str(task))
            every = set(by_model[by_model.baseline == baseline].task)
            first = rows[sb.index[0]]
            out += [DeltaRow(first, lab, True, "every task" if set(tasks) == every else ", ".join(tasks))
                    for lab, tasks in by_label.items()]
        for _key, g in by_model.groupby(["task", "subset", "baseline"], sort=False):
            tested = g[~identical_inputs(g)]
            for _sha, group in tested.groupby("instruction_sha256", sort=False):
                r = rows[group.index[0]]
                out.append(DeltaRow(r, f"{label(order_conditions(list(group.condition)))} − {r.baseline}"))
    return out
