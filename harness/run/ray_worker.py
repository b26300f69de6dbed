"""The Ray executor's worker side: one :class:`CellWorker` per (model, worker slot), run as a Ray actor.

A worker resolves its model on its own node (bundled packages, local folders and the Hugging Face cache of that
node; device and dtype as that node allows), keeps one :class:`~harness.run.encoder.LazyEmbedder` (the model is
loaded once, on the first string the embedding cache lacks) and one node-local
:class:`~harness.run.cache.EmbeddingCache`, and evaluates the cells it is sent (:class:`CellJob`). It returns each
finished cell's files as bytes (:class:`~harness.run.cell.CellOutput`) and writes nothing into the results folder:
the driver owns it. A task's files travel with the job (:class:`TaskFiles`), so a node needs the harness installed
but not the driver's checkout of ``tasks/``.

This module never imports Ray (the driver wraps :class:`CellWorker` with ``ray.remote``); only the node's address
is read through Ray, inside a worker.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.models.spec import ModelSpec
from harness.prompts.conditions import Prompter
from harness.run.grid import Cell
from harness.taskspecs.local import LocalTask

log = logging.getLogger(__name__)
REMOTE_RESULTS = Path("results")  # a worker's cells compute paths relative to this; it is never written


@dataclass(frozen=True)
class ModelHandle:
    """How a worker gets the driver's model: by a name it resolves on its own node, or (for a spec that no name
    resolves to, e.g. the mock encoder or a spec built in Python) the pickled spec itself."""

    alias: str
    identity: str  # the driver's: a worker whose model differs says so
    name: str | None = None
    spec: ModelSpec | None = None

    @classmethod
    def of(cls, spec: ModelSpec) -> ModelHandle:
        name = resolvable_name(spec)
        return cls(spec.alias, spec.identity, name=name, spec=None if name else spec)

    def resolve(self) -> ModelSpec:
        if self.spec is not None:
            return self.spec
        from harness.models.resolve import resolve

        assert self.name is not None
        return resolve(self.name)


def resolvable_name(spec: ModelSpec) -> str | None:
    """The name that :func:`harness.models.resolve.resolve` turns into this model on any node, if there is one."""
    from harness.models.bundled import BUNDLED

    bundled = BUNDLED.get(spec.alias)
    if spec.source == "bundled" and bundled is not None and bundled.name == spec.name:
        return spec.alias
    if spec.source == "folder" and spec.path:
        return spec.path
    if spec.source in ("hub", "mteb"):
        return spec.name
    return None


@dataclass(frozen=True)
class TaskFiles:
    """A task folder's files (relative path → bytes): a worker materialises them when its node lacks the folder."""

    name: str
    folder: str  # the driver's path: used as is when the node has it with the same content
    data_hash: str
    files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, task: LocalTask) -> TaskFiles:
        files = {str(p.relative_to(task.folder)): p.read_bytes() for p in sorted(task.folder.rglob("*"))
                 if p.is_file() and not any(part.startswith((".", "__")) for part in p.relative_to(task.folder).parts)}
        return cls(task.name, str(task.folder), task.data_hash, files)


@dataclass(frozen=True)
class CellJob:
    """One cell to evaluate (its task's files travel beside it, as one shared object per task): its condition's
    prompter (data) and the key the driver planned — the worker must arrive at the same key, or it refuses."""

    label: str
    key: str
    prompter: Prompter


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker reports once started: where it runs and the model identity it resolved (or why it cannot)."""

    node: str
    pid: int
    identity: str = ""
    revision: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    gpus: tuple[str, ...] = ()  # the GPU ids Ray gave this worker (its CUDA_VISIBLE_DEVICES); empty on CPU

    def placement(self, alias: str) -> str:
        """One line: which model runs where, e.g. ``minilm on 10.0.0.2 (pid 4242, GPU 1, device cuda)``."""
        where = [f"pid {self.pid}"]
        if self.gpus:
            where.append(f"GPU {','.join(self.gpus)}")
        if self.settings.get("device"):
            where.append(f"device {self.settings['device']}")
        return f"{alias} on {self.node} ({', '.join(where)})"


@dataclass(frozen=True)
class CellFailure:
    """A cell that did not finish on a worker. ``model``: the model itself failed (resolve or load), so every cell
    of that model fails with this one line; otherwise only this cell."""

    label: str
    message: str
    model: bool = False
    node: str = ""
    pid: int = 0


class CellWorker:
    """A Ray actor: one model on one worker slot, fed cells by the driver (see :mod:`harness.run.ray_executor`)."""

    def __init__(self, handle: ModelHandle, *, batch_size: int, threads: int | None, cache_dir: str | None,
                 use_cache: bool, fault: str | None = None, fault_once: str | None = None):
        if fault:  # the reliability tests' fault injection, aimed at workers only (HARNESS_WORKER_FAULT)
            os.environ["HARNESS_FAULT"] = fault
            if fault_once:
                os.environ["HARNESS_FAULT_ONCE"] = fault_once
        from harness.core.offline import configure

        configure()
        self.handle = handle
        self.batch_size = batch_size
        self.threads = threads
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.node = _node_address()
        self.pid = os.getpid()
        self.gpus = _gpu_ids()
        self.spec: ModelSpec | None = None
        self.embedder: Any = None
        self.cache: Any = None
        self.error = ""  # set once the model failed to resolve or load: every later cell fails at once
        self._tasks: dict[str, LocalTask] = {}

    def describe(self) -> WorkerInfo:
        """Resolve the model on this node and open the node's embedding cache; report identity or error."""
        try:
            self._start()
        except Exception as e:
            self.error = self._model_error("cannot be resolved", e)
        if self.error:
            return WorkerInfo(self.node, self.pid, error=self.error, gpus=self.gpus)
        assert self.spec is not None
        return WorkerInfo(self.node, self.pid, self.spec.identity, self.spec.revision, dict(self.spec.settings),
                          gpus=self.gpus)

    def _start(self) -> None:
        if self.spec is not None:
            return
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        spec = self.handle.resolve()
        from harness.run.cache import EmbeddingCache
        from harness.run.encoder import LazyEmbedder

        if self.use_cache:
            self.cache = EmbeddingCache(Path(self.cache_dir) if self.cache_dir else None)
        self.embedder = LazyEmbedder(spec)
        self.spec = spec

    def _model_error(self, what: str, e: BaseException) -> str:
        detail = str(e) if isinstance(e, HarnessError) else f"{e.__class__.__name__}: {e}"
        return f"model '{self.handle.alias}' {what} on node {self.node}: {detail}"

    def evaluate(self, job: CellJob, task: TaskFiles) -> Any:
        """A finished cell (:class:`~harness.run.cell.CellOutput`) or a :class:`CellFailure`."""
        if not self.error:
            try:
                self._start()
            except Exception as e:
                self.error = self._model_error("cannot be resolved", e)
        if self.error:
            return CellFailure(job.label, self.error, model=True, node=self.node, pid=self.pid)
        assert self.spec is not None
        from harness.run.cell import evaluate_cell

        try:
            cell = Cell(self.spec, job.prompter, self._task(task), REMOTE_RESULTS)
            if cell.key != job.key:
                return CellFailure(job.label, f"{job.label}: on node {self.node} the cell's identity differs from "
                                   f"the driver's (model identity {self.spec.identity} vs {self.handle.identity}, "
                                   f"or the task's files or instructions differ)", node=self.node, pid=self.pid)
            output = evaluate_cell(cell, self.embedder, batch_size=self.batch_size, cache=self.cache)
        except Exception as e:
            if self.embedder.load_error is not None:
                self.error = self._model_error("failed to load", self.embedder.load_error)
                return CellFailure(job.label, self.error, model=True, node=self.node, pid=self.pid)
            log.exception("cell %s failed", job.label)
            return CellFailure(job.label, f"{e.__class__.__name__}: {e} (node {self.node})", node=self.node,
                               pid=self.pid)
        output.worker = f"{self.node}:{self.pid}"
        return output

    def _task(self, files: TaskFiles) -> LocalTask:
        """The job's task on this node: the driver's folder when this node has it unchanged, else a copy of the
        shipped files in a node-local temporary folder (made once per task revision)."""
        if files.data_hash in self._tasks:
            return self._tasks[files.data_hash]
        task: LocalTask | None = None
        folder = Path(files.folder)
        if folder.is_dir():
            try:
                candidate = LocalTask(folder)
                if candidate.data_hash == files.data_hash:
                    task = candidate
            except HarnessError:
                task = None
        if task is None:
            root = Path(tempfile.mkdtemp(prefix=f"harness-task-{files.data_hash[:12]}-")) / files.name
            for rel, data in files.files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
            task = LocalTask(root)
        self._tasks[files.data_hash] = task
        return task


def _node_address() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # outside Ray (tests call the worker in-process)
        import socket

        return socket.gethostname()


def _gpu_ids() -> tuple[str, ...]:
    """The GPUs Ray assigned to this worker (``num_gpus`` in its resource request); () outside Ray or on CPU."""
    try:
        import ray

        if not ray.is_initialized():  # in-process (tests): asking the runtime context would start Ray
            return ()
        return tuple(str(g) for g in ray.get_runtime_context().get_accelerator_ids().get("GPU", []))
    except Exception:
        return ()
