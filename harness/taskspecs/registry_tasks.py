"""mteb's own registry tasks (``--tasks STSBenchmark,SciFact``, ``--benchmark "MTEB(eng, v2)"``), text only.

A name that is not a task folder is looked up in mteb's registry. Its metadata (type, dataset path and pinned
revision, subsets, splits, main score) is read once per mteb version into ``.cache/mteb-tasks-<version>.json``,
so checking a name, listing tasks or failing for a missing dataset never imports mteb.

Data: offline (the default), the dataset must be in the local Hugging Face cache **at the task's pinned revision**:

- the hub cache snapshot ``$HF_HUB_CACHE/datasets--<org>--<name>/snapshots/<revision>/`` (what ``hf download
  <path> --repo-type dataset --revision <revision>`` writes): mteb's loader is pointed at that folder, so exactly
  that revision's files are read;
- or the ``datasets`` cache ``$HF_DATASETS_CACHE/<org>___<name>/<config>/<version>/<revision>/`` (what an earlier
  ``--online`` load prepared): used only when no other revision of the dataset is cached there, since ``datasets``
  offline silently reads the newest cached revision.

Anything else fails before any cell runs, in one line naming the dataset, revision and how to get it
(:func:`RegistryTask.ensure_available`). With ``--online`` mteb downloads it the usual way.

The cell key holds the dataset path and revision (:attr:`RegistryTask.data_hash`): another revision is another
cell, never an old result.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import sys
import warnings
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from harness.core import atomic, mteb_memo
from harness.core.errors import HarnessError
from harness.core.offline import CACHE_DIR, configure, is_online

# mteb's text task types the harness can be asked for (mteb's registry also has image, audio and video types)
TEXT_TYPES = ("BitextMining", "Classification", "Clustering", "InstructionReranking", "InstructionRetrieval",
              "MultilabelClassification", "PairClassification", "Reranking", "Retrieval", "STS", "Summarization")
SOURCE = "mteb"


def mteb_version() -> str:
    try:
        return importlib.metadata.version("mteb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _catalogue_path() -> Path:
    return CACHE_DIR / f"mteb-tasks-{mteb_version()}.json"


def _entry(md: Any) -> dict[str, Any]:
    langs = md.eval_langs
    subsets = {k: list(v) for k, v in langs.items()} if isinstance(langs, dict) else {"default": list(langs)}
    return {"type": str(md.type), "path": md.dataset["path"], "revision": md.dataset["revision"],
            "modalities": list(md.modalities), "subsets": subsets, "splits": list(md.eval_splits),
            "languages": sorted(set(md.languages)), "main_score": md.main_score,
            "superseded_by": md.superseded_by}


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """Every mteb registry task (superseded, private and beta included) → its metadata, read from the cache file
    (built once per mteb version: one mteb import, ~4 s)."""
    path = _catalogue_path()
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("tasks"), dict):
            return dict(data["tasks"])
    tasks = mteb_memo.every_registry_task()
    out = {t.metadata.name: _entry(t.metadata) for t in tasks}
    with contextlib.suppress(HarnessError):  # a cache that cannot be written only costs time
        atomic.write_text(path, json.dumps({"mteb_version": mteb_version(), "tasks": out}, sort_keys=True))
    return out


def is_text(entry: dict[str, Any]) -> bool:
    return list(entry["modalities"]) == ["text"] and entry["type"] in TEXT_TYPES


def text_task_names() -> list[str]:
    return sorted(n for n, e in catalogue().items() if is_text(e))


# name → (subsets, splits) a benchmark selects (``MTEB(eng, v2)`` runs STS17 on en-en only); set by
# :func:`benchmark_tasks` for this process (the local executor), recorded in each cell's sidecar
_selections: dict[str, tuple[list[str], list[str]]] = {}


def lookup(name: str, *, subsets: list[str] | None = None, splits: list[str] | None = None) -> RegistryTask | None:
    """The registry task of that name (None if mteb has none); a non-text task raises. ``subsets`` / ``splits``:
    only those of the task's (default: what a benchmark named in this process selects, else all)."""
    entry = catalogue().get(name)
    if entry is None:
        return None
    if not is_text(entry):
        raise HarnessError(f"task '{name}': mteb's task is {entry['type']} on {'+'.join(entry['modalities'])}; "
                           "the harness runs text tasks only")
    chosen = _selections.get(name, (None, None))
    subsets, splits = subsets or chosen[0], splits or chosen[1]
    if subsets:
        entry = {**entry, "subsets": {k: v for k, v in entry["subsets"].items() if k in subsets}}
    if splits:
        entry = {**entry, "splits": [s for s in entry["splits"] if s in splits]}
    return RegistryTask(name, entry)


def benchmark_tasks(benchmark: str, task_types: list[str] | None = None) -> list[str]:
    """The text tasks of an mteb benchmark (``MTEB(eng, v2)``), optionally only those of ``task_types``; imports
    mteb. An unknown benchmark or type raises with suggestions."""
    from harness.core.errors import unknown

    for t in task_types or []:
        if t not in TEXT_TYPES:
            raise unknown("task type", t, TEXT_TYPES)
    configure()
    import mteb

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bench = mteb.get_benchmark(benchmark)
    except Exception:
        raise unknown("benchmark", benchmark, [b.name for b in mteb.get_benchmarks()]) from None
    chosen = [t for t in bench.tasks
              if list(t.metadata.modalities) == ["text"] and str(t.metadata.type) in TEXT_TYPES
              and (not task_types or str(t.metadata.type) in task_types)]
    for task in chosen:  # the benchmark's subsets and splits of each task (mteb filters them per benchmark)
        _selections[task.metadata.name] = (list(task.hf_subsets), list(task.eval_splits))
    names = [task.metadata.name for task in chosen]
    if not names:
        raise HarnessError(f"--benchmark {benchmark}: no text task" + (
            f" of type {', '.join(task_types)}" if task_types else ""))
    return list(dict.fromkeys(names))


# -- where the data is ----------------------------------------------------------------------------------------


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def hub_cache() -> Path:
    """The Hugging Face hub cache, as huggingface_hub resolves it (read now, not at import time)."""
    return Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
                or _hf_home() / "hub").expanduser()


def datasets_cache() -> Path:
    """The ``datasets`` cache folder, as ``datasets`` resolves it."""
    return Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets").expanduser()


def _snake(name: str) -> str:
    """``datasets.naming.camelcase_to_snakecase`` (the datasets cache's folder names), without importing it."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


def snapshot_dir(path: str, revision: str) -> Path:
    return hub_cache() / f"datasets--{path.replace('/', '--')}" / "snapshots" / revision


def prepared_dirs(path: str) -> list[Path]:
    """The ``datasets`` cache's prepared folders of a Hub dataset (their last part is the revision)."""
    *ns, name = path.split("/")
    root = datasets_cache() / "___".join([*ns, _snake(name)])
    return sorted(p for p in root.glob("*/*/*") if p.is_dir())


@dataclass
class RegistrySpec:
    """The few spec fields the run and the sidecar read (those of a task folder's spec that apply)."""

    name: str
    type: str
    main_score: str
    subsets: dict[str, list[str]]
    splits: list[str]
    family: str | None = None
    resample_unit: str | None = None
    language_probe: None = None


class RegistryTask:
    """An mteb registry task, run through the same cell path as a task folder."""

    source = SOURCE

    def __init__(self, name: str, entry: dict[str, Any]):
        self.entry = entry
        self.spec = RegistrySpec(name=name, type=entry["type"], main_score=entry["main_score"],
                                 subsets=entry["subsets"], splits=entry["splits"])

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def dataset_path(self) -> str:
        return str(self.entry["path"])

    @property
    def dataset_revision(self) -> str:
        return str(self.entry["revision"])

    @property
    def task_dir(self) -> str:
        """Where the task comes from, as recorded in the sidecar: ``mteb:<dataset path>@<revision>``."""
        return f"{SOURCE}:{self.dataset_path}@{self.dataset_revision}"

    @cached_property
    def data_hash(self) -> str:
        """The task's identity in the cell key: task name, dataset path and pinned revision, subsets and splits."""
        blob = json.dumps({"source": SOURCE, "task": self.name, "path": self.dataset_path,
                           "revision": self.dataset_revision, "subsets": self.spec.subsets,
                           "splits": self.spec.splits}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def data_files(self) -> list[Path]:
        return []

    # -- the data ---------------------------------------------------------------------------------------------

    def local_copy(self) -> tuple[str, Path] | None:
        """("snapshot", folder) or ("prepared", folder) where the pinned revision is cached; None if it is not
        (or only ambiguously: other revisions prepared beside it)."""
        snap = snapshot_dir(self.dataset_path, self.dataset_revision)
        if snap.is_dir() and any(p.is_file() for p in snap.rglob("*")):
            return "snapshot", snap
        prepared = prepared_dirs(self.dataset_path)
        if prepared and {p.name for p in prepared} == {self.dataset_revision}:
            return "prepared", prepared[0]
        return None

    def ensure_available(self) -> None:
        """Offline: raise one line (dataset, revision, how to get it) unless the pinned revision is cached."""
        if is_online() or self.local_copy() is not None:
            return
        others = sorted({p.name[:12] for p in prepared_dirs(self.dataset_path)} - {self.dataset_revision})
        also = f" (the datasets cache has only other revisions: {', '.join(others)})" if others else ""
        raise HarnessError(
            f"task '{self.name}': dataset {self.dataset_path} at revision {self.dataset_revision} is not in the "
            f"local Hugging Face cache ({hub_cache()}){also}; run with --online, or first `hf download "
            f"{self.dataset_path} --repo-type dataset --revision {self.dataset_revision}`")

    def check_data(self) -> dict[str, list[str]]:
        """The data check of a run: the pinned revision must be cached (offline). The texts are known only once
        mteb loads the data, so none are returned (the progress estimate leaves them out)."""
        self.ensure_available()
        return {}

    def check_metadata(self) -> None:
        """mteb's own task: its metadata is mteb's and already valid."""

    def metadata(self) -> Any:
        return self.mteb_task_class.metadata

    @cached_property
    def mteb_task_class(self) -> Any:
        """mteb's task class, subclassed to keep item predictions in memory and — offline, from a hub snapshot —
        to read exactly that snapshot's files."""
        configure()
        import mteb

        base = type(mteb.get_task(self.name))
        meta = base.metadata
        got = None if is_online() else self.local_copy()
        if got is not None and got[0] == "snapshot":
            dataset = {**meta.dataset, "path": str(got[1]), "cache_dir": str(datasets_cache())}
            meta = meta.model_copy(update={"dataset": dataset})
        attrs = {"metadata": meta, "__module__": __name__, **self._prediction_attrs(base)}
        return type(base.__name__, (base,), attrs)

    @staticmethod
    def _prediction_attrs(base: Any) -> dict[str, Any]:
        """What the harness changes in mteb's task class so that each item has one prediction kept in memory:
        ``_save_task_predictions`` (keep, do not dump JSON), and for classification one fitted classifier per cell
        (``n_experiments = 1``; mteb's default averages 10 seeded training draws, whose 10 predictions per item
        could not be resampled as one), as for a task folder (:func:`harness.taskspecs.mteb_task.task_class`); for
        clustering mteb's own runs, with the documents each run drew recorded (:mod:`registry_clustering`)."""
        from mteb.abstasks import AbsTaskClassification, AbsTaskClustering

        from harness.taskspecs.mteb_task import keep_predictions
        from harness.taskspecs.registry_clustering import recording_evaluate_subset

        attrs: dict[str, Any] = {"_save_task_predictions": keep_predictions}
        if issubclass(base, AbsTaskClustering):  # mteb's runs unchanged, each run's drawn documents recorded
            attrs["_evaluate_subset"] = recording_evaluate_subset(base)
        if issubclass(base, AbsTaskClassification):  # MultilabelClassification too (a subclass)
            attrs["n_experiments"] = 1
        if hasattr(base, "max_eval_samples"):  # multilabel: every test item, in order (no seeded subsample)
            attrs["max_eval_samples"] = None
        if str(base.metadata.type) == "InstructionReranking":  # FollowIR: keep the qrel_diff mteb's p-MRR reads
            from harness.taskspecs.followir import keep_changed_qrels

            attrs["task_specific_scores"] = keep_changed_qrels(base)
        return attrs

    def refusal(self) -> str | None:
        """Why this task cannot run although its type can (one line), or None: mteb's legacy Clustering tasks
        (``AbsTaskClusteringLegacy``: each row a whole set of texts to cluster) have no per-text predictions here.
        Imports mteb (for Clustering tasks only)."""
        if self.type != "Clustering":
            return None
        configure()
        from mteb.abstasks import AbsTaskClustering

        if issubclass(self.mteb_task_class, AbsTaskClustering):
            return None
        successor = self.entry.get("superseded_by")
        return (f"task '{self.name}': mteb's legacy Clustering tasks (each row a set of texts to cluster) cannot "
                "run yet" + (f"; its successor {successor} can" if successor else ""))

    def mteb_task(self) -> Any:
        """A loaded mteb task (``item_predictions`` as for a task folder: :meth:`LocalTask.mteb_task`)."""
        self.ensure_available()
        task = self.mteb_task_class()
        task.item_predictions = {}
        task.hf_subsets = [s for s in task.hf_subsets if s in self.spec.subsets]  # a benchmark's selection
        task.filter_eval_splits(list(self.spec.splits))
        task.load_data()
        if task.dataset is not None and "default" not in task.dataset and set(task.dataset) <= set(
                self.spec.splits) | {"train", "validation", "dev", "test"}:
            task.dataset = {"default": task.dataset}  # {subset: {split: data}}, as for a task folder (mteb reads both)
        return task

    def load_dataset(self) -> dict[str, dict[str, Any]]:
        return dict(self.mteb_task().dataset)


_said: set[str] = set()


def say_clash(name: str) -> None:
    """A task folder named like an mteb registry task: the folder wins; said once per process."""
    if name in _said:
        return
    _said.add(name)
    with contextlib.suppress(HarnessError, OSError):
        if name in catalogue():
            print(f"note: task '{name}' is the task folder of that name, not mteb's registry task", file=sys.stderr)
