"""Where the Ray executor's time goes, decided before any model loads: each cell's cost, the order of cells
(longest first) and how many workers each model gets.

- A cell's **cost** is the number of characters of the distinct strings its task feeds the model under its
  condition — prefix + text, per role — a stand-in for the tokens to encode, known without the model. (mteb's own
  scoring grows with it too: more queries and documents, more to score.)
- **Longest first**: each model's cells are handed out in decreasing cost, so the last cells to finish are short
  and no worker idles long at the end (the classic LPT rule for identical machines).
- **Workers per model**: never more workers than slots. Every model gets one worker — the costliest first when
  there are fewer slots than models (the others wait for a free slot) — and spare slots go one at a time to the
  model with the most cost per worker, never more workers than it has cells.
- **A freed slot** (a model's queue is empty) goes to a model still waiting for its first worker, else to the
  model with the most cells still queued if that is at least :data:`MIN_QUEUED_FOR_EXTRA` (a new worker must
  load the model first; for one cell that rarely pays).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from harness.run.grid import Cell
from harness.taskspecs.local import Task

MIN_QUEUED_FOR_EXTRA = 2

# per task revision: role → (distinct texts, their characters)
_stats: dict[str, dict[str, tuple[int, int]]] = {}


def text_stats(task: Task) -> dict[str, tuple[int, int]]:
    """Per role: (number of distinct texts, their total characters) over every subset and split of the task."""
    if task.data_hash not in _stats:
        from harness.run.probes import cell_texts

        out: dict[str, tuple[int, int]] = {}
        for roles in cell_texts(task, task.load_dataset()).values():
            for role, texts in roles.items():
                n, chars = out.get(role, (0, 0))
                out[role] = (n + len(texts), chars + sum(len(t) for t in texts))
        _stats[task.data_hash] = out
    return _stats[task.data_hash]


def cell_cost(cell: Cell) -> int:
    """Characters of the distinct strings the cell encodes: Σ over roles of texts × len(prefix) + text characters."""
    return sum(n * len(cell.prompts.get(role, "")) + chars for role, (n, chars) in text_stats(cell.task).items())


def longest_first(cells: Iterable[Cell], cost: Mapping[str, int]) -> list[Cell]:
    """Cells by decreasing cost (``cost`` by cell label); ties keep their planned order."""
    return sorted(cells, key=lambda c: -cost[c.label])


def workers_per_model(costs: Mapping[str, int], cells: Mapping[str, int], slots: int) -> dict[str, int]:
    """How many workers each model starts with (keys: model aliases; ``costs``: total cost of its queued cells,
    ``cells``: how many). Never more than ``slots`` in all: one each for the costliest models (the others wait for
    a free slot), then spare slots one at a time to the model with the most cost per worker."""
    ranked = sorted((m for m in costs if cells.get(m, 0) > 0), key=lambda m: (-costs[m], m))
    out = {m: int(i < slots) for i, m in enumerate(ranked)}
    for _ in range(max(0, slots - len(ranked))):
        open_ = [m for m in out if out[m] < cells[m]]
        if not open_:
            break
        best = max(open_, key=lambda m: (costs[m] / out[m], m))
        out[best] += 1
    return out


def model_for_free_slot(queued: Mapping[str, int], workers: Mapping[str, int]) -> str | None:
    """The model that gets a freed worker slot (``queued``: cells waiting per model, ``workers``: its live
    workers): a model still without a worker first (the most queued cells), else the one with the most queued
    cells if that is at least :data:`MIN_QUEUED_FOR_EXTRA`."""
    waiting = [m for m in queued if queued[m] > 0 and not workers.get(m)]
    if waiting:
        return max(waiting, key=lambda m: (queued[m], m))
    best = max(queued, key=lambda m: (queued[m], m), default=None)
    return best if best is not None and queued[best] >= MIN_QUEUED_FOR_EXTRA else None
