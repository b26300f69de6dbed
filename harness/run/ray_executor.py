"""The Ray executor: the same grid as the local executor, spread over every CPU or GPU of a Ray cluster, with
results identical to a local run.

The driver (this process) owns the results folder. It plans the grid and skips finished cells exactly as the
local executor does (no Ray is started when nothing is left to run), then:

1. connects to Ray — a local instance sized to this machine, or an existing cluster (``--ray-address``);
2. starts one :class:`~harness.run.ray_worker.CellWorker` actor per (model, worker slot)
   (:mod:`harness.run.schedule` decides how many per model); each resolves and loads its model once on its node
   and keeps a node-local embedding cache. Resources per worker: ``num_gpus`` (default 1) where the cluster has
   GPUs, else ``num_cpus = threads``;
3. feeds each model's cells to its workers longest first, one at a time, over ``ray.wait``; each finished cell
   comes back as bytes and the driver writes it with the local executor's atomic writer (sidecar last), so no
   shared filesystem is needed and a cell is done only when its sidecar has landed;
4. shows one progress bar (cells done / total, per model).

Faults: a worker process that dies (e.g. SIGKILL) is restarted by Ray and its cell retried
(``max_restarts``/``max_task_retries``); a model that cannot be resolved or loaded fails its own cells with one
line naming the model and the node, and the other models' cells still finish; a killed driver leaves only whole
cells, which the next run (local or Ray) reuses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.models.resolve import resolve
from harness.models.spec import ModelSpec
from harness.prompts.conditions import Condition
from harness.results import layout
from harness.run import lock as run_lock
from harness.run.cache import EmbeddingCache
from harness.run.grid import Cell, plan
from harness.run.local import DEFAULT_RESULTS, RunStatus, RunSummary, check, check_writable, pending_cells
from harness.run.ray_local import init_local
from harness.run.ray_worker import CellFailure, CellJob, CellWorker, ModelHandle, TaskFiles, WorkerInfo
from harness.run.schedule import cell_cost, longest_first, model_for_free_slot, workers_per_model
from harness.taskspecs.local import LocalTask, Task, TaskRegistry

log = logging.getLogger(__name__)
MAX_RESTARTS = 3  # a worker process that dies is restarted (and its cell retried) up to this many times


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
    threads: int | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 1.0,
    skip_invalid: bool = False,
    all_cells: bool = False,
) -> RunSummary:
    """Evaluate every cell that is not done on Ray (see the module docstring). ``threads``: CPU threads per worker
    (default 1); ``workers``: worker slots (default: what the cluster's resources allow); ``cache``: as for the
    local executor, but each worker opens it on its own node (True: ``HARNESS_EMBEDDING_CACHE`` if the driver
    has it set, else the node's default folder). Inputs are checked exactly as by the local executor
    (:func:`harness.run.local.check`: ``skip_invalid``, ``all_cells``) before Ray starts."""
    t0 = time.perf_counter()
    if workers is not None and workers < 1:
        raise HarnessError(f"--workers {workers}: must be at least 1")
    if gpus_per_worker < 0:
        raise HarnessError(f"--gpus-per-worker {gpus_per_worker}: must not be negative")
    if ray_address:
        check_address(ray_address)
    specs = [m if isinstance(m, ModelSpec) else resolve(m) for m in models]
    checked = check(specs, registry or TaskRegistry(), tasks, conditions, results_dir, skip_invalid=skip_invalid,
                    all_cells=all_cells)
    summary = checked.summary
    for line in summary.skipped:
        log.warning("%s", line)
    status = RunStatus(results_dir / layout.RUN_STATUS)
    for c in checked.redundant:
        status.set(c, "skipped", "the set has no instruction for this task (--all-cells runs it)")
    grid = _Grid(checked.inputs.tasks, checked.inputs.conditions, results_dir, summary, status, skip=checked.skip)
    for spec in specs:  # reads only: which cells are done
        grid.add(spec)
    if not any(m.queue for m in grid.models):  # nothing to run: no Ray
        check_writable(results_dir)
        with run_lock.hold(results_dir):
            _prepare(results_dir, status)
    else:
        t_connect = time.perf_counter()
        with connect(ray_address) as ray:
            summary.timings["ray_start_s"] = time.perf_counter() - t_connect
            driver = _Driver(ray, grid, batch_size=batch_size, threads=threads or 1, workers=workers,
                             gpus_per_worker=gpus_per_worker, cache=cache, progress=progress)
            check_writable(results_dir)  # Ray is up and the resources fit: only now is anything written
            with run_lock.hold(results_dir):  # a second run on this folder refuses (harness.run.lock)
                _prepare(results_dir, status)
                driver.run()
    summary.seconds = time.perf_counter() - t0
    return summary


def _prepare(results_dir: Path, status: RunStatus) -> Path:
    check_writable(results_dir)
    for orphan in atomic.remove_orphans(results_dir):
        log.warning("removed %s, left by an interrupted run", orphan)
    status.flush()
    return results_dir


# ---------------------------------------------------------------------------------------------- connecting
def check_address(address: str) -> None:
    """Fail at once, in one line, when nothing listens at ``address`` (``host:port`` or ``ray://host:port``;
    ``auto`` is left to Ray, which finds a cluster started on this machine)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise HarnessError(f"--ray-address {address}: expected host:port (e.g. 10.0.0.1:6379), ray://host:port "
                           f"or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as e:
        raise HarnessError(f"--ray-address {address}: no Ray cluster answers there "
                           f"({e.strerror or e.__class__.__name__})") from None


@contextlib.contextmanager
def connect(address: str | None) -> Iterator[Any]:
    """Ray, connected: the instance this process already has (tests, notebooks), else a new local instance sized
    to this machine (no dashboard, on 127.0.0.1 only: :func:`init_local`) or the cluster at ``address``;
    disconnected (local: stopped) at the end.
    Workers' output stays in Ray's session logs (``/tmp/ray/session_latest/logs``), not on the console."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        else:
            init_local(ray, log_to_driver=False, logging_level=logging.ERROR)
    except HarnessError:
        raise
    except Exception as e:
        where = f"--ray-address {address}" if address else "a local Ray instance"
        first = (str(e).strip().splitlines() or [""])[0]
        raise HarnessError(f"{where}: cannot start or join Ray ({e.__class__.__name__}: {first})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


# -------------------------------------------------------------------------------------------------- the grid
@dataclass
class _Model:
    key: str
    spec: ModelSpec
    queue: list[Cell] = field(default_factory=list)  # longest first
    cost: dict[str, int] = field(default_factory=dict)  # by cell label
    total: int = 0
    done: int = 0
    confirmed: bool = False  # a worker resolved the model and its identity is the one the cells were planned with
    error: str = ""
    lost: int = 0  # workers Ray could not keep alive

    @property
    def alias(self) -> str:
        return self.spec.alias


class _Grid:
    """What is left to run, per model, and the bookkeeping every finished or failed cell goes through."""

    def __init__(self, tasks: list[Task], conds: list[Condition], results_dir: Path, summary: RunSummary,
                 status: RunStatus, *, skip: set[str] | frozenset[str] = frozenset()):
        self.tasks, self.conds, self.results_dir = tasks, conds, results_dir
        self.skip = skip  # labels of cells not to run (sets without an entry for the task)
        self.summary, self.status = summary, status
        self.models: list[_Model] = []
        self.bar: Any = None

    def add(self, spec: ModelSpec) -> None:
        model = _Model(f"m{len(self.models)}", spec)
        self.models.append(model)
        self.plan(model)

    def plan(self, model: _Model) -> None:
        """(Re)plan a model's cells with its spec; the ones not done are queued, longest first."""
        cells = [c for c in plan([model.spec], self.tasks, self.conds, self.results_dir) if c.label not in self.skip]
        labels = {c.label for c in cells}  # a re-plan replaces what the last plan said about these cells
        self.summary.reused = [r for r in self.summary.reused if r not in labels]
        self.summary.recomputed = [r for r in self.summary.recomputed if r[0] not in labels]
        todo = pending_cells(cells, self.summary, self.status)
        model.cost = {c.label: cell_cost(c) for c in todo}
        model.queue = longest_first(todo, model.cost)
        model.total = model.done + len(todo)

    def finished(self, model: _Model, cell: Cell, encoded: int, cached: int) -> None:
        self.summary.ran.append(cell.label)
        self.summary.encoded += encoded
        self.summary.encoded_distinct += encoded
        self.summary.from_cache += cached
        self.status.set(cell, "done")
        self._tick(model)

    def failed(self, model: _Model, cell: Cell, message: str) -> None:
        message = " ".join(message.split())  # one line
        self.summary.failed.append((cell.label, message))
        self.status.set(cell, "failed", message)
        self._tick(model)

    def _tick(self, model: _Model) -> None:
        model.done += 1
        self.status.flush()
        if self.bar is not None:
            self.bar.set_postfix_str(" ".join(f"{m.alias} {m.done}/{m.total}" for m in self.models if m.total),
                                     refresh=False)
            self.bar.update(1)


# ------------------------------------------------------------------------------------------------ the driver
@dataclass(eq=False)
class _Worker:
    model: _Model
    actor: Any
    info: WorkerInfo | None = None
    started: float = field(default_factory=time.perf_counter)
    ready: float | None = None  # when it reported (model resolved on its node)


class _Driver:
    """Starts the workers, feeds them cells, writes what they return, keeps the progress bar."""

    def __init__(self, ray: Any, grid: _Grid, *, batch_size: int, threads: int, workers: int | None,
                 gpus_per_worker: float, cache: EmbeddingCache | Path | bool, progress: bool):
        self.ray, self.grid = ray, grid
        self.batch_size, self.threads = batch_size, threads
        self.pending: dict[Any, tuple[str, _Worker, Cell | None]] = {}
        self.workers: list[_Worker] = []  # alive (started or waiting for resources)
        self.started: list[_Worker] = []  # every worker this run started
        self.write_s = 0.0
        self.task_refs: dict[str, Any] = {}
        self.progress = progress
        if isinstance(cache, EmbeddingCache):
            cache = cache.root
        self.cache_dir = str(cache) if isinstance(cache, Path) else os.environ.get("HARNESS_EMBEDDING_CACHE")
        self.use_cache = cache is not False
        self.options, self.slots = self._resources(workers, gpus_per_worker)
        self.remote = ray.remote(CellWorker).options(max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS,
                                                     **self.options)

    def _resources(self, workers: int | None, gpus_per_worker: float) -> tuple[dict[str, float], int]:
        """Each worker's resource request and how many workers the cluster runs at once."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        total = self.ray.cluster_resources()
        if total.get("GPU", 0) > 0 and gpus_per_worker > 0:
            if not any(n.get("GPU", 0) >= gpus_per_worker for n in nodes):
                raise HarnessError(f"--gpus-per-worker {gpus_per_worker:g}: no Ray node has that many GPUs")
            options = {"num_gpus": gpus_per_worker, "num_cpus": self.threads}
            fit = int(total["GPU"] // gpus_per_worker)
        else:
            options = {"num_cpus": float(self.threads)}
            fit = int(total.get("CPU", 0) // self.threads)
        largest = max((n.get("CPU", 0) for n in nodes), default=0)
        if largest < self.threads:
            raise HarnessError(f"--threads {self.threads}: no Ray node has that many CPUs (largest: {largest:g})")
        return options, max(1, workers or fit)

    # -------------------------------------------------------------------------------------------- running
    def run(self) -> None:
        grid = self.grid
        todo = [m for m in grid.models if m.queue]
        start = workers_per_model({m.key: sum(m.cost.values()) for m in todo},
                                  {m.key: len(m.queue) for m in todo}, self.slots)
        if self.progress:
            from tqdm import tqdm

            grid.bar = tqdm(total=sum(len(m.queue) for m in todo), desc="cells", unit="cell")
        try:
            for model in sorted(todo, key=lambda m: -sum(m.cost.values())):
                for _ in range(start[model.key]):
                    self._start_worker(model)
            while self.pending:
                ready, _ = self.ray.wait(list(self.pending), num_returns=1)
                kind, worker, cell = self.pending.pop(ready[0])
                try:
                    value = self.ray.get(ready[0])
                except Exception as e:
                    self._worker_lost(worker, cell, e)
                    continue
                if kind == "describe":
                    self._described(worker, value)
                else:
                    assert cell is not None
                    self._returned(worker, cell, value)
            for model in grid.models:  # never happens unless a bug left cells behind: say so, do not hide them
                while model.queue:
                    grid.failed(model, model.queue.pop(0), f"model '{model.alias}': no worker was left to run it")
            grid.summary.timings.update(self._timings())
        finally:
            if grid.bar is not None:
                grid.bar.close()
            for w in self.workers:
                with contextlib.suppress(Exception):
                    self.ray.kill(w.actor)

    def _start_worker(self, model: _Model) -> None:
        handle = ModelHandle.of(model.spec)
        actor = self.remote.remote(handle, batch_size=self.batch_size, threads=self.threads,
                                   cache_dir=self.cache_dir, use_cache=self.use_cache,
                                   fault=os.environ.get("HARNESS_WORKER_FAULT"),
                                   fault_once=os.environ.get("HARNESS_FAULT_ONCE"))
        worker = _Worker(model, actor)
        self.workers.append(worker)
        self.started.append(worker)
        self.pending[actor.describe.remote()] = ("describe", worker, None)

    def _described(self, worker: _Worker, info: WorkerInfo) -> None:
        worker.info, worker.ready = info, time.perf_counter()
        model = worker.model
        self.grid.summary.workers.append(info.placement(model.alias))
        log.info("worker: %s", self.grid.summary.workers[-1])
        if info.error:
            self._drop(worker, info.error)
            return
        if not model.confirmed:
            if info.identity != model.spec.identity:
                # The node resolved the model differently (e.g. CUDA there: float16 instead of the driver's float32):
                # the cells are the node's, so plan them with its settings (finished ones are reused).
                log.warning("model '%s': planned with the identity of node %s (%s), not this machine's (%s)",
                            model.alias, info.node, info.identity, model.spec.identity)
                model.spec = dataclasses.replace(model.spec, revision=info.revision, settings=dict(info.settings))
                self.grid.plan(model)
                if self.grid.bar is not None:
                    self.grid.bar.total = sum(m.total for m in self.grid.models)
                    self.grid.bar.refresh()
            model.confirmed = True
        elif info.identity != model.spec.identity:
            self._drop(worker, f"model '{model.alias}': node {info.node} resolves it to identity {info.identity}, "
                               f"not {model.spec.identity}")
            return
        self._feed(worker)

    def _drop(self, worker: _Worker, message: str, cell: Cell | None = None) -> None:
        """A worker whose model failed (resolve, load, other identity): the model's other workers carry on (they
        may be on nodes where it works) and ``cell`` goes back to the queue; with none left, the model fails."""
        model = worker.model
        self._retire(worker)
        if self._live(model):
            log.warning("%s", message)
            if cell is not None:
                model.queue.insert(0, cell)
        else:
            if cell is not None:
                self.grid.failed(model, cell, message)
            self._model_failed(model, message)
        self._free_slot()

    def _feed(self, worker: _Worker) -> None:
        model = worker.model
        if model.error or not model.queue:
            self._retire(worker)
            self._free_slot()
            return
        cell = model.queue.pop(0)
        job = CellJob(cell.label, cell.key, cell.prompter)
        ref = worker.actor.evaluate.remote(job, self._task_ref(cell.task))
        self.pending[ref] = ("cell", worker, cell)

    def _task_ref(self, task: Task) -> Any:
        if not isinstance(task, LocalTask):  # refused before the run (api.run): workers get task folders' files
            raise HarnessError(f"task '{task.name}': --executor ray runs task folders only")
        if task.data_hash not in self.task_refs:
            self.task_refs[task.data_hash] = self.ray.put(TaskFiles.of(task))
        return self.task_refs[task.data_hash]

    def _returned(self, worker: _Worker, cell: Cell, value: Any) -> None:
        model = worker.model
        if isinstance(value, CellFailure):
            if value.model:
                self._drop(worker, value.message, cell)
            else:
                self.grid.failed(model, cell, value.message)
                self._feed(worker)
            return
        from harness.run.cell import write_cell

        t = time.perf_counter()
        write_cell(value, self.grid.results_dir)
        self.write_s += time.perf_counter() - t
        self.grid.finished(model, cell, value.encoded, value.cached)
        self._feed(worker)

    def _worker_lost(self, worker: _Worker, cell: Cell | None, e: BaseException) -> None:
        """A call failed in Ray itself: the worker died more often than Ray restarts it (its cell fails), or it
        could not start at all. The model gets a fresh worker for its other cells, up to MAX_RESTARTS times."""
        model = worker.model
        cause = getattr(e, "cause", None) or e
        where = f" on node {worker.info.node}" if worker.info else ""
        first = (str(cause).strip().splitlines() or [""])[0][:300]
        message = f"worker of model '{model.alias}'{where} lost ({cause.__class__.__name__}: {first})"
        self._retire(worker)
        model.lost += 1
        if cell is not None:
            self.grid.failed(model, cell, message)
        if model.lost > MAX_RESTARTS:
            self._model_failed(model, message)
        elif model.queue and not self._live(model):
            self._start_worker(model)
            return
        self._free_slot()

    def _model_failed(self, model: _Model, message: str) -> None:
        model.error = message
        while model.queue:
            self.grid.failed(model, model.queue.pop(0), message)
        for w in self._of(model):
            if not self._busy(w):
                self._retire(w)

    # ----------------------------------------------------------------------------------------- slots
    def _free_slot(self) -> None:
        """A worker left: if the cluster has a slot no worker holds or waits for, it goes to the model with the
        most queued cells (:func:`~harness.run.schedule.model_for_free_slot`)."""
        if len(self.workers) >= self.slots:
            return
        queued = {m.key: len(m.queue) for m in self.grid.models if m.queue and not m.error}
        key = model_for_free_slot(queued, {m.key: len(self._of(m)) for m in self.grid.models})
        if key is not None:
            self._start_worker(next(m for m in self.grid.models if m.key == key))

    def _retire(self, worker: _Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
            with contextlib.suppress(Exception):
                self.ray.kill(worker.actor)

    def _of(self, model: _Model) -> list[_Worker]:
        return [w for w in self.workers if w.model is model]

    def _live(self, model: _Model) -> bool:
        return bool(self._of(model))

    def _busy(self, worker: _Worker) -> bool:
        return any(w is worker for _, w, _ in self.pending.values())

    def _timings(self) -> dict[str, float]:
        """Where the executor's own time went: workers' start (process, imports, model resolution) and writes."""
        starts = [w.ready - w.started for w in self.started if w.ready is not None]
        return {"workers_started": float(len(self.started)),
                "worker_start_mean_s": sum(starts) / len(starts) if starts else 0.0,
                "driver_write_s": self.write_s}
