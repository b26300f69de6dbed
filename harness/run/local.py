"""The local executor: check every input, then run every cell of the grid that is not already done, in this
process, one model at a time (each model loaded once, lazily — not at all when every string it needs is in the
embedding cache), with one progress display (:mod:`harness.run.progress`) and the libraries' output in a log file
(:mod:`harness.run.console`). Ctrl-C stops it cleanly: finished cells are kept, the rerun resumes.

mteb and torch are imported only when a cell actually runs: a rerun whose cells are all done stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.core import atomic, signals
from harness.core.errors import HarnessError, Interrupted
from harness.models.resolve import resolve
from harness.models.spec import ModelSpec
from harness.prompts.official import EXPORTED_TYPES, official_kind
from harness.results import layout
from harness.run import console, preflight
from harness.run import lock as run_lock
from harness.run.cache import EmbeddingCache
from harness.run.grid import Cell, plan
from harness.run.progress import CellPlan, Progress, expected_new_strings
from harness.taskspecs.local import TaskRegistry

log = logging.getLogger(__name__)
# Relative to the current folder, as `--results` says (`make bench` runs from the checkout: <checkout>/results).
DEFAULT_RESULTS = Path("results")


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    recomputed: list[tuple[str, str]] = field(default_factory=list)  # (cell, why): stale or corrupt files
    skipped: list[str] = field(default_factory=list)  # one line each: invalid inputs, sets without an entry
    seconds: float = 0.0
    encoded: int = 0  # strings the models encoded (each distinct string once per model when the cache is on)
    encoded_distinct: int = 0  # distinct strings the models encoded
    from_cache: int = 0  # distinct strings reused from the embedding cache (encoded by an earlier run)
    log_file: Path | None = None  # where the libraries' output went
    timings: dict[str, float] = field(default_factory=dict)  # executor overheads (Ray: start-up, workers, writes)
    workers: list[str] = field(default_factory=list)  # Ray: where each worker ran (model, node, pid, GPU ids)

    def line(self) -> str:
        texts = ""
        if self.ran:
            again = f" ({self.encoded:,} encodings without the cache)" if self.encoded != self.encoded_distinct else ""
            texts = (f"; strings: {self.encoded_distinct:,} distinct encoded{again}, {self.from_cache:,} reused "
                     "from the embedding cache")
        return (
            f"cells: {len(self.ran)} ran, {len(self.reused)} reused, {len(self.failed)} failed "
            f"in {self.seconds:.1f}s{texts}"
        )


def check_writable(results_dir: Path) -> None:
    """Fail before any work if results cannot be written there (one line, nothing left behind)."""
    probe = results_dir / f".write-check-{os.getpid()}"
    for folder in (results_dir, *results_dir.parents):
        if folder.exists() and not folder.is_dir():
            what = "is a file" if folder == results_dir else f"is under {folder}, which is a file"
            raise HarnessError(f"{results_dir}: {what}, not a folder; give --results a folder")
        if folder.exists():
            break
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:  # a file (or a link to one) appeared where the folder should be
        raise HarnessError(f"{results_dir}: is a file, not a folder; give --results a folder") from None
    except NotADirectoryError:
        raise HarnessError(f"{results_dir}: a part of this path is a file, not a folder; give --results a folder"
                           ) from None
    except OSError as e:
        raise HarnessError(f"{results_dir}: results folder is not writable ({e.strerror or e})") from None


@dataclass
class Checked:
    """What :func:`check` found: the valid inputs, the cells to consider (valid tasks and conditions), the
    cells of sets without an entry for their task (left out unless ``all_cells``), each cell's state, and a
    summary holding the run's "skipped" lines."""

    inputs: preflight.Inputs
    cells: list[Cell]
    redundant: list[Cell]
    states: dict[str, tuple[str, str]]
    summary: RunSummary

    @property
    def skip(self) -> set[str]:
        return {c.label for c in self.redundant}


def check(specs: list[ModelSpec], registry: TaskRegistry, tasks: list[str] | None, conditions: list[str] | None,
          results_dir: Path, *, skip_invalid: bool, all_cells: bool) -> Checked:
    """Check every input before the first cell (:mod:`harness.run.preflight`), for every executor: invalid tasks
    or sets raise :class:`~harness.core.errors.InputErrors` with all their problems, or are left out with
    ``skip_invalid``. Reads only; writes nothing."""
    inputs = preflight.check_inputs(registry, tasks, conditions, specs)
    planned = plan(specs, inputs.tasks, inputs.conditions, results_dir, recipes=inputs.recipes)
    states = {c.label: c.state() for c in planned}  # reads sidecars and hashes files: once
    pending_tasks = {c.task.name: c.task for c in planned if states[c.label][0] != "done"}
    # the data of every task with a cell to run (a finished cell's data, same hash, was read when it ran)
    preflight.check_task_data(inputs, list(pending_tasks.values()))
    pending_tasks = {name: t for name, t in pending_tasks.items() if name not in inputs.bad_tasks}
    # mteb's own metadata checks, for the tasks that will run (their cells import mteb anyway) — unless the run is
    # about to stop for the problems already found: those are reported at once, without waiting for mteb's import
    if pending_tasks and (skip_invalid or not inputs.problems):
        inputs.add_bad_tasks(preflight.check_tasks_for_mteb(list(pending_tasks.values())))
    inputs.settle(skip_invalid=skip_invalid)
    summary = RunSummary()
    if inputs.skipped_line():
        summary.skipped.append(inputs.skipped_line())
    one_sided_c = [c.name for c in inputs.conditions if c.placement]
    one_sided_t = [t.name for t in inputs.tasks if any(not c.applies(t.type) for c in inputs.conditions)]
    if one_sided_c and one_sided_t:
        summary.skipped.append(f"not planned: {', '.join(one_sided_c)} on {len(one_sided_t)} symmetric task(s) "
                               f"(STS and bitext mining have one side, so @query and @both would repeat the plain "
                               f"set): {', '.join(one_sided_t)}")
    valid = {t.name for t in inputs.tasks}
    cells = [c for c in planned if c.task.name in valid]
    for c in cells:  # official on an mteb task type the instruction files do not cover: refuse, never guess
        if c.condition.name == "official" and c.task.source == "mteb" and \
                official_kind(c.prompter.model, c.task.name, c.task.type) is None:
            raise HarnessError(f"task '{c.task.name}': the instruction file of {c.spec.name} does not cover mteb's "
                               f"{c.task.type} tasks (exported: {', '.join(EXPORTED_TYPES)}); leave out official")
    redundant = [] if all_cells else [c for c in cells if preflight.redundant(c.prompter.model, c.condition, c.task)]
    if redundant:
        summary.skipped.append(_redundant_line(redundant))
        cells = [c for c in cells if c not in redundant]
    return Checked(inputs, cells, redundant, states, summary)


def pending_cells(cells: list[Cell], summary: RunSummary, status: RunStatus,
                  states: dict[str, tuple[str, str]] | None = None) -> list[Cell]:
    """The cells that are not done (missing, stale or corrupt); done ones are recorded as reused. ``states``:
    each cell's state already read (by :func:`check`), so no sidecar is read twice."""
    todo = []
    for c in cells:
        state, why = states[c.label] if states is not None else c.state()
        if state == "done":
            summary.reused.append(c.label)
            status.set(c, "reused")
            continue
        if state in ("stale", "corrupt"):
            log.info("recomputing %s: %s %s", c.label, state, why)
            summary.recomputed.append((c.label, f"{state}: {why}"))
        status.set(c, "pending")
        todo.append(c)
    return todo


def run(
    models: Sequence[str | ModelSpec],
    *,
    tasks: list[str] | None = None,
    conditions: list[str] | None = None,
    results_dir: Path = DEFAULT_RESULTS,
    batch_size: int = 32,
    registry: TaskRegistry | None = None,
    progress: bool = True,
    cache: EmbeddingCache | Path | bool = True,
    skip_invalid: bool = False,
    all_cells: bool = False,
    verbose: bool = False,
) -> RunSummary:
    """Evaluate every (model, condition, task) cell that is not already done. Each model is loaded once.

    Every input is checked first (:mod:`harness.run.preflight`): invalid tasks or sets stop the run with all their
    problems, or are left out with ``skip_invalid``. Cells of a set with no instruction for their task (the same
    strings as ``format``/``none``) are not run unless ``all_cells``. ``cache``: the embedding cache (True: the
    default one under ``.cache/embeddings``, a Path: one there, False: none). Library output goes to
    ``<results>/logs/`` unless ``verbose``. Ctrl-C stops cleanly: :class:`~harness.core.errors.Interrupted`.
    """
    t0 = time.perf_counter()
    specs = [m if isinstance(m, ModelSpec) else resolve(m) for m in models]
    checked = check(specs, registry or TaskRegistry(), tasks, conditions, results_dir, skip_invalid=skip_invalid,
                    all_cells=all_cells)
    check_writable(results_dir)
    with run_lock.hold(results_dir):  # a second run on this folder refuses (harness.run.lock)
        for orphan in atomic.remove_orphans(results_dir):
            log.warning("removed %s, left by an interrupted run", orphan)
        summary, cells, redundant, states = checked.summary, checked.cells, checked.redundant, checked.states
        inputs = checked.inputs

        status = RunStatus(results_dir / layout.RUN_STATUS)
        for c in redundant:
            status.set(c, "skipped", "the set has no instruction for this task (--all-cells runs it)")
        todo = pending_cells(cells, summary, status, states)
        status.flush()
        if todo and (cache is True or isinstance(cache, Path)):
            cache = EmbeddingCache(None if cache is True else cache)  # once per run, shared by every model
        open_cache = cache if isinstance(cache, EmbeddingCache) else None
        plans = _plans(todo, inputs.texts, open_cache) if todo else []
        summary.log_file = console.log_path(results_dir) if todo and not verbose else None
        with console.library_output(summary.log_file, verbose=verbose) as screen:
            bar = Progress(total_cells=len(cells), done_cells=len(summary.reused), plans=plans, enabled=progress,
                           stream=screen)
            for line in summary.skipped:
                bar.note(line)
            try:
                with signals.stop_like_ctrl_c():
                    _run_cells(todo, bar, summary, status, batch_size=batch_size, cache=open_cache)
            except KeyboardInterrupt as e:
                bar.close()
                status.flush()
                signum = signals.signal_of(e)
                how = "" if signum == signal.SIGINT else f" ({signals.name_of(signum)})"
                raise Interrupted(f"interrupted{how}: {len(summary.ran) + len(summary.reused)} of {len(cells)} cells "
                                  "done; rerun the same command to resume", signum) from None
            finally:
                bar.close()
                summary.encoded = bar.encoded_total
                summary.encoded_distinct, summary.from_cache = bar.tally.n_encoded, bar.tally.n_reused
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_cells(todo: list[Cell], bar: Progress, summary: RunSummary, status: RunStatus, *, batch_size: int,
               cache: EmbeddingCache | None) -> None:
    """Run the cells in order, one model at a time (each loaded once, lazily)."""
    if not todo:
        return
    bar.status("importing mteb")
    from harness.run.cell import run_cell
    from harness.run.encoder import LazyEmbedder

    embedders: dict[str, LazyEmbedder] = {}
    for cell in todo:
        # once per model, shared by every condition; loaded on the first string the embedding cache lacks
        embedder = embedders.setdefault(cell.spec.identity, LazyEmbedder(cell.spec, progress=bar))
        bar.cell_started(cell.label)
        try:
            run_cell(cell, embedder, batch_size=batch_size, cache=cache, progress=bar)
            summary.ran.append(cell.label)
            status.set(cell, "done")
        except HarnessError:
            raise
        except Exception as e:
            log.exception("cell %s failed", cell.label)
            summary.failed.append((cell.label, f"{e.__class__.__name__}: {e}"))
            status.set(cell, "failed", f"{e.__class__.__name__}: {e}")
        except KeyboardInterrupt:
            status.set(cell, "interrupted")
            raise
        bar.cell_finished(cell.label)
        status.flush()


def _redundant_line(cells: list[Cell]) -> str:
    by_condition: dict[str, list[str]] = {}
    for c in cells:
        names = by_condition.setdefault(c.condition.name, [])
        if c.task.name not in names:
            names.append(c.task.name)
    what = "; ".join(f"{cond}: {', '.join(tasks)}" for cond, tasks in by_condition.items())
    return (f"skipped {len(cells)} cell(s) whose set has no instruction for the task (they would feed exactly the "
            f"strings of none/format; --all-cells runs them): {what}")


def _plans(todo: list[Cell], texts: dict[str, dict[str, list[str]]], cache: EmbeddingCache | None
           ) -> list[CellPlan]:
    """Each pending cell's exact strings (its texts with its prefixes, plus the bare texts the embedding-shift
    probe compares with) → how many it will encode, for the progress estimate."""
    rows = []
    for c in todo:
        strings: list[str] = []
        for role, role_texts in texts.get(c.task.name, {}).items():
            prefix = c.prompts.get(role, "")
            strings += [prefix + t for t in role_texts]
            if prefix:
                strings += role_texts
        rows.append((c.label, c.task.name, c.spec.identity, strings))
    present = None if cache is None else cache.contains
    try:
        return expected_new_strings(rows, present)
    except Exception as e:  # only an estimate: never stop a run for it
        log.info("no progress estimate (%s)", e)
        return []


class RunStatus:
    """A human-readable record of the last run's cells (pending / done / reused / failed / interrupted / skipped),
    rewritten atomically after every cell. Sidecars remain the authority on what is done; this says what happened
    (``error``: why a cell failed or was skipped)."""

    def __init__(self, path: Path):
        self.path = path
        self.cells: dict[str, dict[str, str]] = {}
        self.started = datetime.now(UTC).isoformat(timespec="seconds")

    def set(self, cell: Cell, state: str, error: str = "") -> None:
        self.cells[cell.label] = {"state": state, "key": cell.key, **({"error": error} if error else {})}

    def flush(self) -> None:
        body = {"started_at": self.started, "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "cells": self.cells}
        atomic.write_text(self.path, json.dumps(body, indent=2, sort_keys=True))
