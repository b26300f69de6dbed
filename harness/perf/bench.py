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

It prints the five figures (a–e), writes them with the machine's description to ``results/perf.json``;
``python -m harness.perf stores`` measures the embedding-store candidates (NOTES.md quotes both), and
``python -m harness.perf ray`` the Ray executor against the local one (:mod:`harness.perf.ray_bench`).
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

from harness.core.offline import PROJECT_ROOT
from harness.perf.children import CHILDREN, MINIMAL
from harness.perf.stores import bench_stores

DEFAULT_OUT = PROJECT_ROOT / "results" / "perf.json"
NEW_INSTRUCTION = "Find the text that means the same."

















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
    from harness.taskspecs.local import TaskRegistry

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
    p.add_argument("what", nargs="?", choices=["grid", "stores"], default="grid",
                   help="grid (default): the harness against its limits; stores: the embedding-store candidates. "
                        "(`python -m harness.perf ray`: the Ray executor against the local one; its own --help)")
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
    from harness.core import atomic

    atomic.write_text(args.out, json.dumps(report, indent=2, default=str))
    atomic.write_text(args.out.with_suffix(".md"), f"# make perf ({report['created_at']})\n\n```\n{text}\n```\n")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
