"""Conditions that fed a model exactly the same strings: found by their instruction hash, shown once.

Two cells of the same model and task whose ``instruction_sha256`` is equal put the same prefix before every text,
so their embeddings, scores and figures are identical by construction (e.g. ``format`` and ``official`` of MiniLM,
which has neither format prefixes nor official instructions, are both ``none``). Readers fold such conditions into
one row or panel labelled ``none = format = official`` instead of repeating zeros and identical pictures.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from harness.prompts.conditions import BASELINE, order_conditions

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
