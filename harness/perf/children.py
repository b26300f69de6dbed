"""The processes ``make perf`` compares, each run as ``python -m harness.perf _child <kind> <cfg.json>``: the
harness grid, plain ``mteb.evaluate``, a warm-up, and the minimal encode-only script (:data:`MINIMAL`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

# The minimal script: nothing but sentence-transformers loading a folder and encoding a list of strings.
MINIMAL = r'''
import json, os, resource, sys, time
t_start = time.perf_counter()
for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
cfg = json.load(open(sys.argv[1]))
import torch
if cfg["threads"]:
    torch.set_num_threads(cfg["threads"])
from sentence_transformers import SentenceTransformer
strings = json.load(open(cfg["strings"], encoding="utf-8"))
t0 = time.perf_counter()
model = SentenceTransformer(cfg["folder"], device=cfg["device"], local_files_only=True)
if cfg["dtype"] == "float16":
    model.half()
if cfg["max_seq_length"]:
    model.max_seq_length = cfg["max_seq_length"]
t1 = time.perf_counter()
vectors = model.encode(strings, batch_size=cfg["batch_size"], normalize_embeddings=cfg["normalize"],
                       convert_to_numpy=True, show_progress_bar=False)
t2 = time.perf_counter()
json.dump({"import_s": t0 - t_start, "load_s": t1 - t0, "encode_s": t2 - t1, "in_run_s": t2 - t0,
           "encoded": len(strings), "shape": list(vectors.shape),
           "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, open(cfg["out"], "w"))
'''


# ================================================================================================ children
def _harness_child(cfg: dict[str, Any]) -> dict[str, Any]:
    """One harness run (``runner.run``), recording what the model encoded and what the encoders asked for."""
    import resource

    t_start = time.perf_counter()
    from harness.core.offline import configure

    configure()
    import numpy as np
    import torch

    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    if cfg.get("preimport", True):
        # Imported before the clock starts, as the minimal script imports sentence-transformers before its own:
        # in-run time is the work, whole-process time adds the imports. (A rerun of finished cells never
        # imports sentence-transformers, so that variant does not either.)
        import mteb  # noqa: F401
        import sentence_transformers  # noqa: F401

    from harness.models.resolve import resolve
    from harness.models.spec import Embedder, ModelSpec
    from harness.run import local as runner
    from harness.run.cache import EmbeddingCache

    class Recording(Embedder):
        def __init__(self, inner: Embedder):
            self.inner, self.dim = inner, inner.dim
            self.strings: list[str] = []
            self.seconds = 0.0

        def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
            t = time.perf_counter()
            out = self.inner.embed(texts, batch_size=batch_size)
            self.seconds += time.perf_counter() - t
            self.strings.extend(texts)
            return out

    class RecordingCache(EmbeddingCache):
        def __init__(self, root: Path):
            super().__init__(root)
            self.asked: set[str] = set()

        def get_many(self, spec: ModelSpec, texts: Any, dim: int) -> list[Any]:
            self.asked.update(texts)
            return super().get_many(spec, texts, dim)

    spec = resolve(cfg["model"])
    loaded: dict[str, Any] = {}
    inner_loader = spec.loader

    def loader() -> Embedder:
        t = time.perf_counter()
        loaded["embedder"] = Recording(inner_loader())
        loaded["load_s"] = time.perf_counter() - t
        return loaded["embedder"]

    spec.loader = loader
    cache = RecordingCache(Path(cfg["cache_dir"]))
    before = sum(r["vectors"] for r in cache.info())
    profiler = _start_profiler(cfg)
    t0 = time.perf_counter()
    summary = runner.run([spec], tasks=cfg["tasks"], conditions=cfg["conditions"], results_dir=Path(cfg["results"]),
                         batch_size=cfg["batch_size"], cache=cache, progress=False)
    in_run = time.perf_counter() - t0
    _stop_profiler(profiler, cfg)
    rec: Recording | None = loaded.get("embedder")
    encoded = rec.strings if rec is not None else []
    if cfg.get("dump_strings"):
        Path(cfg["dump_strings"]).write_text(json.dumps(encoded, ensure_ascii=False), encoding="utf-8")
    out = {
        "import_s": t0 - t_start, "in_run_s": in_run, "load_s": loaded.get("load_s", 0.0),
        "encode_s": rec.seconds if rec is not None else 0.0,
        "cells_ran": len(summary.ran), "cells_reused": len(summary.reused), "cells_failed": summary.failed,
        "encoded": len(encoded), "encoded_distinct": len(set(encoded)), "from_cache": summary.from_cache,
        "asked_distinct": len(cache.asked), "cached_before": before,
        "cache_bytes": cache.size_bytes(), "corrupt": cache.stats.corrupt,
        "folder": _st_folder(rec.inner if rec is not None else None),
        "settings": spec.settings, "torch_threads": torch.get_num_threads(),
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if cfg.get("check_new"):
        # The new condition's new inputs: what its cells asked for, less what the cache held before this run.
        prior = set(json.loads(Path(cfg["check_new"]).read_text(encoding="utf-8")))
        expected = cache.asked - prior
        out["expected_new"] = len(expected)
        out["encoded_equals_new_inputs"] = sorted(encoded) == sorted(expected)
    cache.close()
    return out


def _mteb_child(cfg: dict[str, Any]) -> dict[str, Any]:
    """Plain mteb: one SentenceTransformer, prompts through mteb's model_prompts, ``mteb.evaluate`` per task."""
    import resource
    import warnings

    t_start = time.perf_counter()
    from harness.core.offline import configure

    configure()
    import torch

    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    import mteb
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    from harness.models.resolve import resolve
    from harness.prompts.conditions import Condition, Prompter
    from harness.prompts.files import model_instructions
    from harness.prompts.schema import side_of
    from harness.taskspecs.local import TaskRegistry

    spec = resolve(cfg["model"])
    tasks = TaskRegistry().select(cfg["tasks"])
    t0 = time.perf_counter()
    model = SentenceTransformer(cfg["folder"], device=spec.settings.get("device", "cpu"), local_files_only=True)
    if spec.settings.get("dtype") == "float16":
        model.half()
    if spec.settings.get("max_seq_length"):
        model.max_seq_length = int(spec.settings["max_seq_length"])
    load_s = time.perf_counter() - t0
    own_prompts = dict(model.prompts)
    counted = {"n": 0}
    original = model.encode  # encode_query / encode_document call it too: count here only

    def counting(*args: Any, **kwargs: Any) -> Any:
        texts: Any = args[0] if args else kwargs.get("inputs", kwargs.get("sentences"))
        counted["n"] += 1 if isinstance(texts, str) else len(texts)
        return original(*args, **kwargs)

    model.encode = counting  # type: ignore[method-assign]
    scores: dict[str, float] = {}
    recipe = model_instructions(spec.name)
    for cond_name in cfg["conditions"]:
        prompter = Prompter(recipe, Condition.parse(cond_name))
        for task in tasks:
            prompts = prompter.prompts_for(task.name, task.type)
            if side_of(task.type, "document") == "query":  # symmetric: mteb passes no prompt type
                keyed = {task.type: prompts["query"]}
            else:
                keyed = {f"{task.type}-query": prompts["query"], f"{task.type}-document": prompts["document"]}
            keyed = {k: v for k, v in keyed.items() if v}
            model.prompts = dict(own_prompts)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrapper = SentenceTransformerEncoderWrapper(model, model_prompts=keyed or None)
            result = mteb.evaluate(wrapper, task.mteb_task(), cache=None, co2_tracker=False,
                                   overwrite_strategy="always", show_progress_bar=False,
                                   encode_kwargs={"batch_size": cfg["batch_size"]})
            for split, rows in result.task_results[0].scores.items():
                for row in rows:
                    scores[f"{cond_name}/{task.name}/{row['hf_subset']}/{split}"] = float(row["main_score"])
    in_run = time.perf_counter() - t0
    return {"import_s": t0 - t_start, "in_run_s": in_run, "load_s": load_s, "encoded": counted["n"],
            "scores": scores, "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _warmup_child(cfg: dict[str, Any]) -> dict[str, Any]:
    from harness.core.offline import configure

    configure()
    import mteb  # noqa: F401

    from harness.models.resolve import resolve

    resolve(cfg["model"]).load()
    return {}


def _st_folder(embedder: Any) -> str | None:
    """The folder a sentence-transformers embedder was loaded from (for the minimal script and plain mteb)."""
    model = getattr(embedder, "model", None)
    try:
        path = model[0].auto_model.config._name_or_path  # type: ignore[index]
    except (TypeError, AttributeError, IndexError, KeyError):
        return None
    return str(path) if path and Path(path).is_dir() else None


def _start_profiler(cfg: dict[str, Any]) -> Any:
    if not cfg.get("profile"):
        return None
    from pyinstrument import Profiler  # optional: `.venv/bin/pip install pyinstrument`

    profiler = Profiler(interval=0.005)
    profiler.start()
    return profiler


def _stop_profiler(profiler: Any, cfg: dict[str, Any]) -> None:
    if profiler is not None:
        profiler.stop()
        Path(cfg["profile"]).write_text(profiler.output_text(unicode=True, show_all=True), encoding="utf-8")


CHILDREN = {"harness": _harness_child, "mteb": _mteb_child, "warmup": _warmup_child}
