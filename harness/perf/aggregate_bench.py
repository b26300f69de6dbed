"""``make perf PERF_MODE=aggregate`` (= ``python -m harness.perf aggregate``): what ``harness aggregate`` costs.

A benchmark, not a test. On one grid (default: ``minilm`` × every task × the default conditions = 72 cells, in
``results/perf-grid``; built once with ``harness run``'s code and reused after) it runs, each as its own
``python -m harness aggregate`` process (so imports and console count, as for a user):

1. **cold**: empty statistics cache and figure cache (fresh folders, ``$HARNESS_STATS_CACHE`` /
   ``$HARNESS_FIGURE_CACHE``) — every delta's statistics, every family contribution and every figure computed;
2. **warm**: the same command again, nothing new (everything read back from the two caches);
3. **+1 condition**: a copy of the grid with one more condition run into it (default ``paraphrase#1``), then
   aggregated with the caches the two runs above filled: only the new cells' statistics and figures are new.

For each it prints whole-process wall and CPU seconds (the aggregate process plus what its statistics workers
report) and the harness's own per-component table (:mod:`harness.core.timers`, the same table as
``harness aggregate --timings``); then the ratio of the cold aggregate to the grid's own cold run time (measured
when this mode built the grid, else read from the run's ``run-status.json``: first start to last update). Writes
``results/perf-aggregate.json`` and ``.md``. Pin threads on a shared machine: ``PERF_ARGS="--threads 1"``.
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
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.core.offline import PROJECT_ROOT

DEFAULT_RESULTS = PROJECT_ROOT / "results" / "perf-grid"
DEFAULT_OUT = PROJECT_ROOT / "results" / "perf-aggregate.json"
DEFAULT_ADDED = "paraphrase#1"
RUN_TIME_FILE = "perf-run.json"  # in the grid folder: the cold run time, when this mode built the grid


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.perf aggregate",
                                description="harness aggregate cold, warm and after one more condition, with the "
                                            "per-component CPU seconds (results/perf-aggregate.json and .md)")
    p.add_argument("--model", default="minilm", help="model alias (default: minilm; `mock`: the seeded mock "
                                                     "encoder, for a quick check of the plumbing)")
    p.add_argument("--tasks", type=_csv, default=None, help="comma-separated tasks (default: every task)")
    p.add_argument("--conditions", type=_csv, default=None,
                   help="comma-separated conditions of the grid (default: the default conditions)")
    p.add_argument("--add-condition", default=DEFAULT_ADDED,
                   help=f"the condition added for the third measurement (default: {DEFAULT_ADDED})")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="the grid's folder: reused when it has cells, built otherwise (default: results/perf-grid)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON to write (default: results/perf-aggregate"
                                                                  ".json; the .md beside it)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model when cells run, and BLAS "
                                                             "threads of the aggregate processes (default: theirs)")
    p.add_argument("--stats-workers", type=int, default=None, metavar="N",
                   help="harness aggregate --stats-workers N (default: its own, the machine's cores)")
    return p


def _cells(results: Path) -> int:
    return sum(1 for _ in (results / "cells").rglob("*.json")) if (results / "cells").is_dir() else 0


def _run_cells(model: str, tasks: list[str] | None, conditions: list[str] | None, results: Path,
               threads: int | None) -> float:
    """Run the grid's cells (finished ones skipped) in this process, as ``harness run`` does; wall seconds."""
    from harness.models.spec import ModelSpec
    from harness.run import local as runner
    from harness.taskspecs.local import TaskRegistry

    if model == "mock":
        from harness.models.mock import mock_spec

        spec: ModelSpec = mock_spec()
    else:
        from harness.models.resolve import resolve

        spec = resolve(model)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
    t = time.perf_counter()
    runner.run([spec], tasks=tasks, conditions=conditions, results_dir=results, registry=TaskRegistry(),
               progress=False)
    return time.perf_counter() - t


def _run_time_from_status(results: Path) -> float | None:
    try:
        status = json.loads((results / "run-status.json").read_text(encoding="utf-8"))
        return (datetime.fromisoformat(status["updated_at"]) - datetime.fromisoformat(status["started_at"])
                ).total_seconds()
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _aggregate(results: Path, env: dict[str, str], work: Path, name: str,
               stats_workers: int | None) -> dict[str, Any]:
    """One ``python -m harness aggregate`` process: wall, its rusage CPU, and the timers' JSON."""
    timings = work / f"{name}.timings.json"
    cmd = [sys.executable, "-m", "harness", "aggregate", "--results", str(results)]
    if stats_workers is not None:
        cmd += ["--stats-workers", str(stats_workers)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**env, "HARNESS_TIMINGS_JSON": str(timings)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise SystemExit("perf: harness aggregate failed:\n" + "\n".join(tail))
    got = json.loads(timings.read_text(encoding="utf-8"))
    comps = got["components"]
    workers = comps.get("harness aggregate", {}).get("worker_cpu_s", 0.0)
    return {"wall_s": round(wall, 3), "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "worker_cpu_s": workers, "cpu_s": round(usage.ru_utime + usage.ru_stime + workers, 3),
            "components": comps}


def _table(runs: dict[str, dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for r in runs.values():
        names += [k for k in r["components"] if k not in names]
    depth = {k: 0 for k in names}
    for r in runs.values():
        for k, v in r["components"].items():
            parent, d = v.get("parent"), 0
            while parent is not None and d < 10:
                d, parent = d + 1, r["components"].get(parent, {}).get("parent")
            depth[k] = d
    head = "| component (CPU s) | " + " | ".join(runs) + " |"
    out = [head, "|---|" + "---:|" * len(runs)]
    for k in names:
        cells = [f"{r['components'][k]['total_cpu_s']:.2f}" if k in r["components"] else "–" for r in runs.values()]
        out.append(f"| {'  ' * depth[k]}{k} | " + " | ".join(cells) + " |")
    out.append("| **whole process (CPU s, incl. workers)** | " + " | ".join(f"{r['cpu_s']:.2f}"
                                                                           for r in runs.values()) + " |")
    out.append("| **whole process (wall s)** | " + " | ".join(f"{r['wall_s']:.2f}" for r in runs.values()) + " |")
    return out


def run_aggregate_bench(args: argparse.Namespace) -> dict[str, Any]:
    results: Path = args.results
    built = _cells(results) == 0
    run_s: float | None
    if built:
        print(f"perf: building the grid in {results} (model {args.model}) …", file=sys.stderr)
        run_s = _run_cells(args.model, args.tasks, args.conditions, results, args.threads)
        (results / RUN_TIME_FILE).write_text(json.dumps({"run_cold_s": run_s}), encoding="utf-8")
        source = "measured by this mode (it built the grid)"
    elif (results / RUN_TIME_FILE).exists():
        run_s = json.loads((results / RUN_TIME_FILE).read_text(encoding="utf-8"))["run_cold_s"]
        source = f"{RUN_TIME_FILE} (when this mode built the grid)"
    else:
        run_s = _run_time_from_status(results)
        source = "run-status.json (first start to last update)"
    cells = _cells(results)
    work = Path(tempfile.mkdtemp(prefix="harness-perf-aggregate-"))
    try:
        env = {**os.environ, "HARNESS_STATS_CACHE": str(work / "stats"),
               "HARNESS_FIGURE_CACHE": str(work / "figures")}
        if args.threads is not None:
            env.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                        "MKL_NUM_THREADS")})
        runs: dict[str, dict[str, Any]] = {}
        runs["cold"] = _aggregate(results, env, work, "cold", args.stats_workers)
        runs["warm"] = _aggregate(results, env, work, "warm", args.stats_workers)
        plus = work / "grid-plus-one"
        shutil.copytree(results, plus, ignore=shutil.ignore_patterns("*.lock"))
        conds = [*(args.conditions or []), args.add_condition] if args.conditions else None
        if conds is None:
            from harness.prompts.files import default_conditions

            conds = [*default_conditions(), args.add_condition]
        added_run_s = _run_cells(args.model, args.tasks, conds, plus, args.threads)
        runs["+1 condition"] = _aggregate(plus, env, work, "plus-one", args.stats_workers)
        runs["+1 condition"]["added_cells"] = _cells(plus) - cells
        runs["+1 condition"]["run_s"] = round(added_run_s, 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from harness.perf.bench import machine

    return {"mode": "aggregate", "machine": machine(), "model": args.model, "tasks": args.tasks,
            "conditions": args.conditions, "added_condition": args.add_condition, "results": str(results),
            "cells": cells, "grid_built": built, "threads": args.threads, "stats_workers": args.stats_workers,
            "load_average": list(os.getloadavg()), "run_cold_s": run_s, "run_cold_source": source,
            "ratio_cold_aggregate_to_run": (round(runs["cold"]["wall_s"] / run_s, 4) if run_s else None),
            "aggregate": runs}


def markdown(r: dict[str, Any]) -> str:
    runs = r["aggregate"]
    ratio = r["ratio_cold_aggregate_to_run"]
    lines = [f"# harness aggregate: cold, warm, +1 condition ({r['model']}, {r['cells']} cells)", "",
             f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores; load average at the end "
             f"{', '.join(f'{x:.2f}' for x in r['load_average'])}; threads {r['threads']}, stats workers "
             f"{r['stats_workers'] or 'default'}.", "",
             *_table(runs), "",
             f"+1 condition: `{r['added_condition']}`, {runs['+1 condition']['added_cells']} cells added "
             f"(their run: {runs['+1 condition']['run_s']:.1f} s).", "",
             f"The grid's own cold run: {r['run_cold_s']:.1f} s ({r['run_cold_source']}); cold aggregate / run = "
             f"{ratio:.3f}." if ratio is not None else "The grid's own cold run time: unknown.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from harness.core.offline import configure

    configure()
    r = run_aggregate_bench(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1), encoding="utf-8")
    md = markdown(r)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0
