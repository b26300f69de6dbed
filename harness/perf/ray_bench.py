"""``python -m harness.perf ray``: the Ray executor against the local one on the same grid (a benchmark, not a test).

Grid (default): ``minilm, multilingual-e5-small, static-multilingual`` × ``none, blog`` × every task, each variant
in its own process with a cold embedding cache and a fresh results folder:

0. a warm-up process per model (imports and model files into the OS page cache, so no variant pays the disk alone);
1. ``local``: the local executor, ``--threads 1``;
2. ``ray-2``: the Ray executor on a local Ray instance, 2 workers × 1 thread;
3. ``ray-1``: the Ray executor, 1 worker × 1 thread (the same work as ``local`` in the same order of models, so
   its extra time is Ray's overhead).

It prints the speedup (local / ray-2, whole process and in-run), Ray's fixed overhead — start-up (starting the
local instance), a worker's start (process, imports, model resolution) and the per-cell overhead
``(ray-1 − start-up − local) / cells``, also without ray-1's worker starts — checks that the leaderboards agree,
and writes everything with the machine's load to ``results/perf-ray.json`` (+ ``.md``). ``--variants`` runs a
subset (e.g. ``local,ray-2`` for the speedup alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.core.offline import PROJECT_ROOT

DEFAULT_MODELS = "minilm,multilingual-e5-small,static-multilingual"
TARGET_SPEEDUP = 1.6  # issue 15: Ray, 2 workers × 1 thread, against the local executor at 1 thread
DEFAULT_OUT = PROJECT_ROOT / "results" / "perf-ray.json"
VARIANTS: dict[str, dict[str, Any]] = {"local": {"executor": "local"}, "ray-2": {"executor": "ray", "workers": 2},
                                       "ray-1": {"executor": "ray", "workers": 1}}


def _child(cfg: dict[str, Any]) -> dict[str, Any]:
    """One variant: the grid through one executor; the clock starts after the harness is imported."""
    t_start = time.perf_counter()
    from harness.core.offline import configure

    configure()
    from harness.models.resolve import resolve

    if cfg.get("warmup"):
        for name in cfg["models"]:
            resolve(name).load()
        return {}
    from harness.run import local, ray_executor

    t0 = time.perf_counter()
    specs = [resolve(m) for m in cfg["models"]]
    common = {"tasks": cfg["tasks"], "conditions": cfg["conditions"], "results_dir": Path(cfg["results"]),
              "batch_size": cfg["batch_size"], "cache": Path(cfg["cache_dir"]), "progress": False}
    if cfg["executor"] == "local":
        import torch

        torch.set_num_threads(cfg["threads"])
        summary = local.run(specs, **common)
    else:
        summary = ray_executor.run(specs, threads=cfg["threads"], workers=cfg["workers"], **common)
    in_run = time.perf_counter() - t0
    if summary.failed:
        raise SystemExit(f"cells failed: {summary.failed[:3]}")
    return {"import_s": t0 - t_start, "in_run_s": in_run, "cells": len(summary.ran), "encoded": summary.encoded,
            "timings": summary.timings}


def _spawn(name: str, cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    cfg_path, out = work / f"{name}.config.json", work / f"{name}.out.json"
    cfg_path.write_text(json.dumps({**cfg, "out": str(out)}), encoding="utf-8")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness.perf.ray_bench", "_child", str(cfg_path)],
                          cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"perf ray: variant {name} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    result["process_s"] = wall
    return result


def _main_scores(results: Path) -> dict[str, float]:
    from harness.analysis.aggregate import leaderboard

    board = leaderboard(results)  # the scores only: no deltas or statistics (they follow from the scores)
    main = board[board["is_main"]]
    return {f"{r.model}/{r.condition}/{r.task}/{r.subset}/{r.split}": float(r.score) for r in main.itertuples()}


def run(*, models: list[str], tasks: list[str] | None, conditions: list[str], batch_size: int,
        work: Path | None, variants: list[str] | None = None) -> dict[str, Any]:
    """Run the variants (default: all three; ``local`` always runs) and compute the figures they allow: the
    speedup needs ``ray-2``, the per-cell overhead ``ray-1``."""
    from harness.perf.bench import machine
    from harness.taskspecs.local import TaskRegistry

    task_names = [t.name for t in TaskRegistry().select(tasks)]
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="harness-perf-ray-")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    names = ["local", *[n for n in (variants or VARIANTS) if n != "local"]]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or len(names) < 2:
        raise SystemExit(f"perf ray: --variants {','.join(variants or [])}: choose from {', '.join(VARIANTS)} "
                         f"(local and at least one Ray variant)")
    base = {"models": models, "tasks": task_names, "conditions": conditions, "batch_size": batch_size, "threads": 1}
    load_at_start = list(os.getloadavg())
    t_all = time.perf_counter()
    print(f"perf ray: {', '.join(models)} × {len(task_names)} tasks × {', '.join(conditions)}; work folder {work}",
          flush=True)
    try:
        _spawn("warmup", {**base, "warmup": True}, work)
        v: dict[str, dict[str, Any]] = {}
        for name in names:
            print(f"  {name} ...", flush=True)
            v[name] = _spawn(name, {**base, **VARIANTS[name], "results": str(work / f"results-{name}"),
                                    "cache_dir": str(work / f"cache-{name}")}, work)
        scores = {name: _main_scores(work / f"results-{name}") for name in names}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "grid": {**base, "cells": v["local"]["cells"]}, "variants": v, **figures(v, scores),
        "machine": {**machine(), "load_avg_at_start": load_at_start, "load_avg_at_end": list(os.getloadavg())},
        "total_s": round(time.perf_counter() - t_all, 1), "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def figures(v: dict[str, dict[str, Any]], scores: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The benchmark's figures from its variants' results (``v``, by variant name; ``local`` and at least one Ray
    variant) and their main scores: the speedup (needs ``ray-2``), Ray's start-up and a worker's start, the
    per-cell overhead (needs ``ray-1``; also without ray-1's worker starts, which run one after another) and the
    largest difference between any Ray variant's main scores and the local ones."""
    local, ray2, ray1 = v["local"], v.get("ray-2"), v.get("ray-1")
    any_ray = ray1 or ray2
    if any_ray is None:
        raise ValueError("no Ray variant")
    cells = local["cells"]
    rays = [n for n in v if n != "local"]
    common = set(scores["local"]).intersection(*(set(scores[n]) for n in rays))
    diff = max((abs(scores["local"][k] - scores[n][k]) for k in common for n in rays), default=None)
    start = any_ray["timings"].get("ray_start_s", 0.0)
    per_cell = excl = None
    if ray1 and cells:
        extra = ray1["in_run_s"] - start - local["in_run_s"]
        starts = ray1["timings"].get("workers_started", 0.0) * ray1["timings"].get("worker_start_mean_s", 0.0)
        per_cell, excl = extra / cells, (extra - starts) / cells
    return {
        "speedup_process": local["process_s"] / ray2["process_s"] if ray2 else None,
        "speedup_in_run": local["in_run_s"] / ray2["in_run_s"] if ray2 else None,
        "target_speedup": TARGET_SPEEDUP,
        "ray_start_s": start, "worker_start_mean_s": any_ray["timings"].get("worker_start_mean_s"),
        "per_cell_overhead_s": per_cell, "per_cell_overhead_excl_worker_starts_s": excl,
        "main_scores_compared": len(common), "max_abs_main_score_diff": diff,
    }


def render(r: dict[str, Any]) -> str:
    m, g = r["machine"], r["grid"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load avg {m['load_avg_at_start'][0]:.1f}"
        f"→{m['load_avg_at_end'][0]:.1f}",
        f"grid: {', '.join(g['models'])} × {len(g['tasks'])} tasks × {', '.join(g['conditions'])} = {g['cells']} "
        f"cells; 1 thread per worker, batch {g['batch_size']}, cold embedding cache",
        "",
        f"{'variant':8s} {'process s':>10s} {'in-run s':>9s} {'strings':>8s}",
    ]
    for name, x in r["variants"].items():
        lines.append(f"{name:8s} {x['process_s']:10.1f} {x['in_run_s']:9.1f} {x['encoded']:8d}")
    diff = r["max_abs_main_score_diff"]
    lines.append("")
    if r["speedup_process"] is not None:
        ok = "met" if r["speedup_process"] >= r["target_speedup"] else "MISSED"
        lines.append(f"speedup local (1 thread) / Ray (2 workers × 1 thread): {r['speedup_process']:.2f}× whole "
                     f"process (target ≥ {r['target_speedup']}: {ok}), {r['speedup_in_run']:.2f}× in-run")
    per_cell = r["per_cell_overhead_s"]
    lines += [
        f"Ray's fixed overhead: start-up {r['ray_start_s']:.1f} s, a worker's start {r['worker_start_mean_s']:.1f} s "
        f"(mean)" + ("" if per_cell is None else f", per cell {per_cell:.2f} s ((ray-1 − start-up − local) / cells; "
                     f"{r['per_cell_overhead_excl_worker_starts_s']:.2f} s without ray-1's "
                     f"{r['variants']['ray-1']['timings'].get('workers_started', 0):.0f} worker starts)"),
        f"{r['main_scores_compared']} main scores compared across {len(r['variants'])} runs: max |Δ| "
        f"{'n/a' if diff is None else f'{diff:.1e}'}",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.perf ray", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated models (default: {DEFAULT_MODELS})")
    p.add_argument("--tasks", default=None, help="comma-separated task names (default: every task)")
    p.add_argument("--conditions", default="none,blog")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="where the figures go (default: results/perf-ray.json)")
    p.add_argument("--work", type=Path, default=None, help="keep the variants' files here (default: a temp folder)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"which runs (default: {','.join(VARIANTS)}; local always runs; the speedup needs ray-2, "
                        f"the per-cell overhead ray-1)")
    args = p.parse_args(argv)
    report = run(models=[m for m in args.models.split(",") if m],
                 tasks=[t for t in args.tasks.split(",") if t] if args.tasks else None,
                 conditions=[c for c in args.conditions.split(",") if c], batch_size=args.batch_size, work=args.work,
                 variants=[n for n in args.variants.split(",") if n])
    text = render(report)
    print()
    print(text)
    from harness.core import atomic

    atomic.write_text(args.out, json.dumps(report, indent=2, default=str))
    atomic.write_text(args.out.with_suffix(".md"), f"# perf ray ({report['created_at']})\n\n```\n{text}\n```\n")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        config = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        Path(config["out"]).write_text(json.dumps(_child(config), default=str), encoding="utf-8")
        raise SystemExit(0)
    raise SystemExit(main(sys.argv[1:]))
