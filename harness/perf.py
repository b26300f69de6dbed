"""``make perf``: the harness measured against its limits, every variant in its own process, side by side.

A benchmark, not a test. On one grid (default: the bundled ``minilm``, every task under ``tasks/``, conditions
``none`` and ``blog``) it runs, each as a separate Python process (so whole-process time and peak memory are fair):

0. a warm-up process (imports and model files into the OS page cache, so no variant pays the disk alone);
1. ``harness-cold``: the harness grid with an empty embedding cache and an empty results folder;
2. ``minimal``: a script that only loads the same model (sentence-transformers, same settings) and encodes
   exactly the distinct strings the cold run encoded, with the same batch size (the floor for any harness);
3. ``mteb-plain``: plain ``mteb.evaluate`` over the same tasks and conditions, prompts given through mteb's own
   mechanism (``SentenceTransformerEncoderWrapper(model_prompts=…)`` keyed by task type and prompt type), no
   harness cache; its main scores are compared with the harness's;
4. ``harness-warm``: the same command again (every cell finished: skipped) and ``harness-warm-eval``: every cell
   re-evaluated into a fresh results folder with the warm embedding cache (no string encoded);
5. ``harness-new-condition``: one new condition (a generated instruction set that instructs queries only)
   added to the finished grid: the strings encoded must be exactly that condition's new inputs.

It prints the five figures (a–e), writes them with the machine's description to ``results/perf.json``, and
``python -m harness.perf stores`` measures the embedding-store candidates (NOTES.md quotes both).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.offline import PROJECT_ROOT

DEFAULT_OUT = PROJECT_ROOT / "results" / "perf.json"
NEW_INSTRUCTION = "Find the text that means the same."

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
    from harness.offline import configure

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

    from harness import runner
    from harness.cache import EmbeddingCache
    from harness.models import Embedder, ModelSpec, resolve

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
    from harness.offline import configure

    configure()
    import torch

    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    import mteb
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    from harness.instructions import Condition, Prompter, model_instructions, side_of
    from harness.models import resolve
    from harness.tasks import TaskRegistry

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
    from harness.offline import configure

    configure()
    import mteb  # noqa: F401

    from harness.models import resolve

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


# ================================================================================================== parent
def _spawn(args: list[str], out: Path) -> dict[str, Any]:
    """Run one variant in a fresh process; add its whole-process wall time and peak RSS (wait4's rusage)."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise SystemExit(f"perf: {' '.join(args[:4])} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    result["process_s"] = wall
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def _child(kind: str, cfg: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    cfg_path, out = work / f"{name}.config.json", work / f"{name}.out.json"
    cfg = {**cfg, "out": str(out)}
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    return _spawn([sys.executable, "-m", "harness.perf", "_child", kind, str(cfg_path)], out)


def _minimal(cfg: dict[str, Any], work: Path, strings: Path, settings: dict[str, Any], folder: str) -> dict[str, Any]:
    script, out = work / "minimal.py", work / "minimal.out.json"
    script.write_text(MINIMAL, encoding="utf-8")
    mcfg = {"folder": folder, "strings": str(strings), "batch_size": cfg["batch_size"], "threads": cfg["threads"],
            "device": settings.get("device", "cpu"), "dtype": settings.get("dtype", "float32"),
            "max_seq_length": settings.get("max_seq_length"), "normalize": bool(settings.get("normalize")),
            "out": str(out)}
    (work / "minimal.config.json").write_text(json.dumps(mcfg), encoding="utf-8")
    return _spawn([sys.executable, str(script), str(work / "minimal.config.json")], out)


def _harness_scores(results: Path) -> dict[str, float]:
    scores = {}
    for path in (results / "results").rglob("experiments/condition_*/*.json"):
        if path.name == "model_meta.json":
            continue
        cond = path.parent.name.removeprefix("condition_")
        for split, rows in json.loads(path.read_text(encoding="utf-8"))["scores"].items():
            for row in rows:
                scores[f"{cond}/{path.stem}/{row['hf_subset']}/{split}"] = float(row["main_score"])
    return scores


def _new_condition_set(path: Path, tasks: list[Any]) -> None:
    """An instruction set that instructs the query side of every task (documents stay bare)."""
    import yaml

    body = {"name": "perf-new", "description": "make perf: a condition added to a finished grid",
            "tasks": {t.name: {"query": NEW_INSTRUCTION} for t in tasks}}
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    import importlib.metadata as md

    versions = {d: md.version(d) for d in ("torch", "sentence-transformers", "mteb")}
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "system": platform.platform(),
            "python": platform.python_version(), **versions}


def run_perf(*, model: str, tasks: list[str] | None, conditions: list[str], batch_size: int, threads: int | None,
             out: Path, work: Path | None, profile: bool) -> dict[str, Any]:
    from harness.tasks import TaskRegistry

    task_list = TaskRegistry().select(tasks)
    task_names = [t.name for t in task_list]
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="harness-perf-")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    base = {"model": model, "tasks": task_names, "conditions": conditions, "batch_size": batch_size,
            "threads": threads}
    cache_dir, results = work / "cache", work / "results"
    strings = work / "cold-strings.json"
    prof = (lambda name: str(out.parent / f"perf-profile-{name}.txt")) if profile else (lambda name: None)
    def log(line: str) -> None:
        print(line, flush=True)

    t_all, load_at_start = time.perf_counter(), list(os.getloadavg())
    log(f"perf: {model} × {len(task_names)} tasks × {conditions} (batch {batch_size}, threads "
        f"{threads or 'default'}); work folder {work}")
    try:
        _child("warmup", base, work, "warmup")
        v: dict[str, dict[str, Any]] = {}
        log("  harness, cold ...")
        v["harness_cold"] = _child("harness", {**base, "cache_dir": str(cache_dir), "results": str(results),
                                               "dump_strings": str(strings), "profile": prof("cold")}, work, "cold")
        folder = v["harness_cold"]["folder"]
        if folder is None:
            raise SystemExit(f"perf: model {model} is not a sentence-transformers folder; the minimal script and "
                             f"plain mteb need one")
        log("  minimal script ...")
        v["minimal"] = _minimal(base, work, strings, v["harness_cold"]["settings"], folder)
        log("  plain mteb.evaluate ...")
        v["mteb_plain"] = _child("mteb", {**base, "folder": folder}, work, "mteb")
        log("  harness, warm rerun (finished cells) ...")
        v["harness_warm"] = _child("harness", {**base, "cache_dir": str(cache_dir), "results": str(results),
                                               "profile": prof("warm"), "preimport": False}, work, "warm")
        log("  harness, warm embedding cache, fresh results ...")
        v["harness_warm_eval"] = _child("harness", {**base, "cache_dir": str(cache_dir),
                                                    "results": str(work / "results-again"),
                                                    "profile": prof("warm-eval")}, work, "warm-eval")
        new_set = work / "perf-new.yaml"
        _new_condition_set(new_set, task_list)
        log("  harness, one new condition ...")
        v["harness_new_condition"] = _child(
            "harness", {**base, "conditions": [*conditions, str(new_set)], "cache_dir": str(cache_dir),
                        "results": str(results), "check_new": str(strings)}, work, "new")
        scores = _harness_scores(results)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    report = _figures(v, scores)
    report.update(machine=machine(), grid=base, total_s=round(time.perf_counter() - t_all, 1),
                  created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), variants=v)
    report["machine"].update(load_avg_at_start=load_at_start, load_avg_at_end=list(os.getloadavg()))
    return report


def _figures(v: dict[str, dict[str, Any]], harness_scores: dict[str, float]) -> dict[str, Any]:
    cold, mini, plain = v["harness_cold"], v["minimal"], v["mteb_plain"]
    warm, warm_eval, new = v["harness_warm"], v["harness_warm_eval"], v["harness_new_condition"]
    common = sorted(set(harness_scores) & set(plain["scores"]))
    diff = max((abs(harness_scores[k] - plain["scores"][k]) for k in common), default=None)
    return {
        "a_cold_vs_minimal": {
            "in_run_ratio": cold["in_run_s"] / mini["in_run_s"],
            "process_ratio": cold["process_s"] / mini["process_s"],
            "encode_ratio": cold["encode_s"] / mini["encode_s"], "target_in_run": 1.10,
            "strings": cold["encoded"],
        },
        "b_harness_vs_mteb": {
            "in_run_ratio": cold["in_run_s"] / plain["in_run_s"],
            "process_ratio": cold["process_s"] / plain["process_s"],
            "target": 0.75, "strings_harness": cold["encoded"], "strings_mteb": plain["encoded"],
            "scores_compared": len(common), "max_abs_main_score_diff": diff,
        },
        "c_warm_vs_cold": {
            "skip_in_run_ratio": warm["in_run_s"] / cold["in_run_s"],
            "skip_process_ratio": warm["process_s"] / cold["process_s"],
            "reeval_in_run_ratio": warm_eval["in_run_s"] / cold["in_run_s"],
            "reeval_process_ratio": warm_eval["process_s"] / cold["process_s"],
            "reeval_strings_encoded": warm_eval["encoded"], "target": 0.05,
        },
        "d_new_condition": {
            "encoded": new["encoded"], "expected_new_inputs": new.get("expected_new"),
            "equal": new.get("encoded_equals_new_inputs"), "asked_distinct": new["asked_distinct"],
            "cells_ran": new["cells_ran"], "cells_reused": new["cells_reused"],
        },
        "e_peak_rss_mib": {k: round(x["peak_rss_mib"], 1) for k, x in v.items()},
    }


def render(r: dict[str, Any]) -> str:
    v, a, b, c, d, e = (r["variants"], r["a_cold_vs_minimal"], r["b_harness_vs_mteb"], r["c_warm_vs_cold"],
                        r["d_new_condition"], r["e_peak_rss_mib"])
    m = r["machine"]

    def ok(x: float, target: float) -> str:
        return "met" if x <= target else f"MISSED by {x / target:.2f}×"

    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; torch {m['torch']}, "
        f"{v['harness_cold']['torch_threads']} threads; load avg {m['load_avg_at_start'][0]:.1f}→"
        f"{m['load_avg_at_end'][0]:.1f}",
        f"grid: {r['grid']['model']} × {len(r['grid']['tasks'])} tasks × {', '.join(r['grid']['conditions'])}; "
        f"batch {r['grid']['batch_size']}",
        "",
        f"{'variant':24s} {'process s':>10s} {'in-run s':>9s} {'load s':>7s} {'encode s':>9s} {'strings':>8s} "
        f"{'peak MiB':>9s}",
    ]
    for k, x in v.items():
        lines.append(f"{k:24s} {x['process_s']:10.1f} {x['in_run_s']:9.1f} {x.get('load_s', 0):7.1f} "
                     f"{x.get('encode_s', float('nan')):9.1f} {x.get('encoded', 0):8d} {x['peak_rss_mib']:9.0f}")
    diff = b["max_abs_main_score_diff"]
    lines += [
        "",
        f"a. cold harness / minimal script: in-run {a['in_run_ratio']:.2f}× (target ≤ 1.10: "
        f"{ok(a['in_run_ratio'], 1.10)}), whole process {a['process_ratio']:.2f}×, model encode "
        f"{a['encode_ratio']:.2f}× ({a['strings']} strings)",
        f"b. harness / plain mteb.evaluate: in-run {b['in_run_ratio']:.2f}× (target ≤ 0.75: "
        f"{ok(b['in_run_ratio'], 0.75)}), whole process {b['process_ratio']:.2f}×; strings encoded "
        f"{b['strings_harness']} vs {b['strings_mteb']}; {b['scores_compared']} main scores compared, max |Δ| "
        f"{'n/a' if diff is None else f'{diff:.1e}'}",
        f"c. warm / cold: rerun of finished cells in-run {c['skip_in_run_ratio']:.1%} (target ≤ 5%: "
        f"{ok(c['skip_in_run_ratio'], 0.05)}), whole process {c['skip_process_ratio']:.1%} "
        f"({ok(c['skip_process_ratio'], 0.05)}); re-evaluating every cell from the warm cache in-run "
        f"{c['reeval_in_run_ratio']:.1%}, whole process {c['reeval_process_ratio']:.1%}, "
        f"{c['reeval_strings_encoded']} strings encoded",
        f"d. one new condition: {d['encoded']} strings encoded, its new inputs {d['expected_new_inputs']} "
        f"({'equal' if d['equal'] else 'NOT EQUAL'}; it asked for {d['asked_distinct']} distinct strings; "
        f"{d['cells_ran']} cells ran, {d['cells_reused']} reused)",
        "e. peak RSS (MiB): " + ", ".join(f"{k} {x:.0f}" for k, x in e.items()),
    ]
    return "\n".join(lines)


# ============================================================================================ store bench
def bench_stores(n: int = 20_000, dim: int = 384, batch: int = 1000, repeats: int = 3) -> dict[str, Any]:
    """Write then read ``n`` float32 vectors (random order) in two candidate stores, best of ``repeats``.

    Both do the same work per vector: sha256 key, CRC32 check, numpy row. SQLite is the harness's own
    :class:`~harness.cache.EmbeddingCache`; LMDB (``pip install lmdb``) is measured when installed.
    """
    import struct

    import numpy as np

    from harness.cache import EmbeddingCache, checksum, text_key
    from harness.mock import mock_spec

    rng = np.random.default_rng(0)
    texts = [f"sentence {i} " * (1 + i % 5) for i in range(n)]
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    order = [int(i) for i in rng.permutation(n)]
    spec = mock_spec()

    def sqlite(root: Path) -> tuple[float, float, int]:
        with EmbeddingCache(root) as c:
            t = time.perf_counter()
            for s in range(0, n, batch):
                c.put_many(spec, texts[s:s + batch], vecs[s:s + batch])
            w = time.perf_counter() - t
        with EmbeddingCache(root) as c:
            t = time.perf_counter()
            got = c.get_many(spec, [texts[i] for i in order], dim)
            r = time.perf_counter() - t
            assert all(g is not None for g in got)
            return w, r, c.size_bytes()

    def lmdb_store(root: Path) -> tuple[float, float, int]:
        import lmdb

        prefix = struct.pack("<I", 1)
        env = lmdb.open(str(root / "lmdb"), map_size=1 << 34)
        t = time.perf_counter()
        for s in range(0, n, batch):
            with env.begin(write=True) as txn:
                for text, vec in zip(texts[s:s + batch], vecs[s:s + batch], strict=True):
                    k, b = text_key(text), vec.tobytes()
                    txn.put(prefix + k, struct.pack("<II", dim, checksum(k, b)) + b)
        w = time.perf_counter() - t
        env.close()
        env = lmdb.open(str(root / "lmdb"), map_size=1 << 34)
        t = time.perf_counter()
        with env.begin() as txn:
            for i in order:
                k = text_key(texts[i])
                val = txn.get(prefix + k)
                assert val is not None
                d, crc = struct.unpack("<II", val[:8])
                assert len(val) - 8 == 4 * d and checksum(k, val[8:]) == crc
                np.frombuffer(val[8:], dtype=np.float32)
        r = time.perf_counter() - t
        env.close()
        return w, r, sum(p.stat().st_size for p in (root / "lmdb").iterdir())

    candidates = {"sqlite-wal": sqlite}
    try:
        import lmdb  # noqa: F401

        candidates["lmdb"] = lmdb_store
    except ImportError:
        print("lmdb not installed (`.venv/bin/pip install lmdb`): measuring SQLite only")
    out: dict[str, Any] = {"n": n, "dim": dim, "batch": batch, "payload_mib": n * dim * 4 / 2**20}
    for name, fn in candidates.items():
        runs = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as d:
                runs.append(fn(Path(d)))
        w, r = min(x[0] for x in runs), min(x[1] for x in runs)
        out[name] = {"write_per_s": n / w, "read_per_s": n / r, "size_mib": runs[0][2] / 2**20}
        print(f"{name:11s} write {n / w:8.0f} vectors/s   read {n / r:8.0f} vectors/s   "
              f"file {runs[0][2] / 2**20:5.1f} MiB (payload {n * dim * 4 / 2**20:.1f} MiB)")
    return out


# ==================================================================================================== main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        kind, cfg_path = argv[1], Path(argv[2])
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        result = CHILDREN[kind](cfg)
        Path(cfg["out"]).write_text(json.dumps(result, default=str), encoding="utf-8")
        return 0
    p = argparse.ArgumentParser(prog="python -m harness.perf", description=__doc__.split("\n\n")[0])
    p.add_argument("what", nargs="?", choices=["grid", "stores"], default="grid")
    p.add_argument("--model", default="minilm")
    p.add_argument("--tasks", default=None, help="comma-separated task names (default: every task)")
    p.add_argument("--conditions", default="none,blog")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads in every variant (default: torch's)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the figures go (default: results/perf.json)")
    p.add_argument("--work", type=Path, default=None, help="keep the variants' files here (default: a temp folder)")
    p.add_argument("--profile", action="store_true", help="pyinstrument profiles of the harness variants, "
                                                          "written beside --out (needs pyinstrument)")
    args = p.parse_args(argv)
    if args.what == "stores":
        bench_stores()
        return 0
    report = run_perf(model=args.model, tasks=[t for t in args.tasks.split(",") if t] if args.tasks else None,
                      conditions=[c for c in args.conditions.split(",") if c], batch_size=args.batch_size,
                      threads=args.threads, out=args.out, work=args.work, profile=args.profile)
    text = render(report)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from harness import atomic

    atomic.write_text(args.out, json.dumps(report, indent=2, default=str))
    atomic.write_text(args.out.with_suffix(".md"), f"# make perf ({report['created_at']})\n\n```\n{text}\n```\n")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
