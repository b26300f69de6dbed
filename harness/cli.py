"""Command line: a thin mirror of the public API (``harness.api``).

Errors users can fix print one line to stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from harness.core import signals
from harness.core.errors import HarnessError
from harness.core.offline import configure


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _workers(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number ≥ 1")
    return n


def _global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """--online and -v work before or after the command (``harness --online run`` = ``harness run --online``)."""
    parser.add_argument("--online", action="store_true", default=default,
                        help="allow Hugging Face Hub downloads (default: offline)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="show the libraries' own output (progress bars, warnings) instead of logging it")


def _search_dirs(parser: argparse.ArgumentParser) -> None:
    """Task folders and sets outside the checkout (also $HARNESS_TASKS_PATH / $HARNESS_SETS_PATH)."""
    parser.add_argument("--tasks-dir", dest="tasks_dirs", type=Path, action="append", default=None, metavar="DIR",
                        help="more task folders (DIR/<Name>/task.yaml), searched after the checkout's tasks/; "
                             "repeatable; also $HARNESS_TASKS_PATH (folders separated as in PATH)")
    parser.add_argument("--sets-dir", dest="sets_dirs", type=Path, action="append", default=None, metavar="DIR",
                        help="more instruction-set folders (DIR/<name>.yaml), searched after instructions/sets; "
                             "repeatable; also $HARNESS_SETS_PATH")


def _model_naming(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=None,
                        help="the name a local model folder goes by (default: local/<folder name>); its "
                             "instruction file is the one of that name")
    parser.add_argument("--instructions", dest="instructions_file", type=Path, default=None, metavar="FILE",
                        help="a model instruction file anywhere, used for the model its `model:` field names (a "
                             "lone model folder takes that name)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description="Do instructions change what embedding models do?")
    _global_options(p, default=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, default=argparse.SUPPRESS)  # after the command: set only when given
    sub = p.add_subparsers(dest="command", required=True)

    def add(group: Any, name: str, **kw: Any) -> argparse.ArgumentParser:
        return group.add_parser(name, parents=[common], **kw)  # type: ignore[no-any-return]

    r = add(sub, "run", help="evaluate models × conditions × tasks (skips finished cells)")
    r.add_argument("--model", default="minilm", help="comma-separated model names (default: minilm)")
    r.add_argument("--tasks", type=_csv, default=None,
                   help="comma-separated task names (default: every task folder); a name that is no task folder is "
                        "mteb's registry task of that name (text tasks: STSBenchmark, SciFact, ...)")
    r.add_argument("--benchmark", default=None,
                   help="also run the text tasks of an mteb benchmark, e.g. \"MTEB(eng, v2)\"")
    r.add_argument("--task-types", type=_csv, default=None,
                   help="comma-separated mteb task types: only the tasks of these types (e.g. STS,Retrieval)")
    _model_naming(r)
    r.add_argument("--conditions", type=_csv, default=None,
                   help="comma-separated conditions (default: none, format, official and every set without "
                        "variants: blog, mismatched, placebo); a variant set's name (paraphrase) means all its "
                        "variants (paraphrase#1 ...)")
    r.add_argument("--results", type=Path, default=None,
                   help="results folder (default: ./results, relative to the current folder)")
    _search_dirs(r)
    r.add_argument("--batch-size", type=int, default=32, help="texts per model forward pass (default: 32)")
    r.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the model (default: torch's choice; with --executor ray: per worker, "
                        "default 1)")
    r.add_argument("--cache-dir", type=Path, default=None,
                   help="embedding cache folder (default: .cache/embeddings, or $HARNESS_EMBEDDING_CACHE)")
    r.add_argument("--no-cache", action="store_true", help="encode every text; read and write no embedding cache")
    r.add_argument("--skip-invalid", action="store_true",
                   help="run the valid tasks and sets, leaving out (and naming) the invalid ones")
    r.add_argument("--all-cells", action="store_true",
                   help="also run the cells of a set with no instruction for the task (they repeat none/format)")
    r.add_argument("--executor", default="local", help="where cells run: local (this process, default) or ray")
    r.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --executor ray: join the Ray cluster at ADDR (host:port or auto; default: start a "
                        "local Ray instance sized to this machine)")
    r.add_argument("--workers", type=int, default=None,
                   help="with --executor ray: worker slots (default: what the cluster's CPUs/GPUs allow)")
    r.add_argument("--gpus-per-worker", type=float, default=1.0,
                   help="with --executor ray on a cluster with GPUs: GPUs per worker (default: 1)")

    t = add(sub, "try", help="the origin's experiment: pair cosines without and with each instruction")
    t.add_argument("--model", default="minilm", help="one model: bundled alias, Hub id or folder (default: minilm)")
    _model_naming(t)
    t.add_argument("--words", type=_csv, default=None,
                   help="comma-separated words; the first is paired with every word (warm,hot,cold,philosophy)")
    t.add_argument("--pairs", type=Path, default=None,
                   help="CSV with sentence1,sentence2[,score]: more pairs; with scores, the Spearman delta and CI")
    t.add_argument("--instruction", action="append", default=[], required=True,
                   help="an instruction (repeatable: each is a column)")
    t.add_argument("--side", choices=["both", "query"], default="both",
                   help="both texts of a pair get the instruction (default; what an STS task gets in `run`) or "
                        "only the first")
    t.add_argument("--save", type=Path, default=None, metavar="DIR",
                   help="also write DIR/tasks/<task>/ and DIR/sets/<set>.yaml for `harness run` (needs scores)")
    t.add_argument("--task-name", default=None, help="the saved task's name (default: MyPairs)")
    t.add_argument("--set-name", default=None, help="the saved set's name (default: mine)")
    t.add_argument("--batch-size", type=int, default=32, help="texts per model forward pass (default: 32)")
    t.add_argument("--threads", type=int, default=None, help="CPU threads for the model (default: torch's choice)")
    t.add_argument("--cache-dir", type=Path, default=None,
                   help="embedding cache folder (default: .cache/embeddings, or $HARNESS_EMBEDDING_CACHE)")
    t.add_argument("--no-cache", action="store_true", help="encode every text; read and write no embedding cache")

    a = add(sub, "aggregate", help="rebuild leaderboard.parquet and deltas.parquet from results on disk")
    a.add_argument("--results", type=Path, default=None,
                   help="results folder (default: ./results, relative to the current folder)")
    a.add_argument("--multiplicity", choices=["holm", "bh"], default="holm",
                   help="adjustment within each model × kind of comparison: holm (family-wise error, default) or "
                        "bh (Benjamini–Hochberg false-discovery rate)")
    a.add_argument("--stats-workers", type=_workers, default=None, metavar="N",
                   help="processes for the deltas' statistics (default: the machine's cores, or "
                        "$HARNESS_STATS_WORKERS; 1 = in this process; fewer than 16 new deltas "
                        "always run in this process); results do not depend on N")
    a.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where the statistics run: local (processes on this machine, default) or ray (Ray tasks "
                        "on a local instance or the cluster at --ray-address); the same numbers either way")
    a.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --executor ray: join the Ray cluster at ADDR (host:port or auto; default: start a "
                        "local instance on 127.0.0.1)")
    a.add_argument("--timings", action="store_true",
                   help="print CPU and wall seconds per component (tables, statistics, figures, report) on stderr; "
                        "always in the log with --verbose")
    _search_dirs(a)

    cmp = add(sub, "compare", help="models × conditions side by side, with deltas and 95%% CIs")
    cmp.add_argument("--tasks", type=_csv, default=None, help="comma-separated task names (default: all)")
    cmp.add_argument("--models", type=_csv, default=None, help="comma-separated model aliases or names")
    cmp.add_argument("--results", type=Path, default=None, help="results folder (default: ./results)")
    cmp.add_argument("--view", default="deltas", choices=["deltas", "decomposition", "paraphrase", "ranks", "family"],
                     help="deltas with CIs (default), the effect decomposition, paraphrase spreads, model ranks "
                          "per condition with Kendall τ, or task families (the Scale* tasks) summarised")
    cmp.add_argument("--baseline", default=None,
                     help="any condition as the baseline of every delta shown (e.g. blog), computed on demand "
                          "with the same statistics; Holm over the deltas shown")
    cmp.add_argument("--conditions", type=_csv, default=None,
                     help="comma-separated conditions to show (a variant set's name means all its variants)")

    pub = sub.add_parser("publish", help="write a Hugging Face dataset folder (card, parquet, mteb results tree)")
    pub.add_argument("out", type=Path, metavar="OUT", help="the folder to write (new, empty, or an earlier publish)")
    pub.add_argument("--results", type=Path, default=None, help="results folder (default: ./results)")
    pub.add_argument("--with-predictions", action="store_true", help="also publish every cell's item predictions")

    mrg = sub.add_parser("merge", help="combine results folders (other machines, array jobs) into one, then aggregate")
    mrg.add_argument("sources", nargs="+", type=Path, metavar="DIR", help="results folders to take cells from")
    mrg.add_argument("--into", type=Path, required=True, help="the folder to merge into (its cells come first)")
    mrg.add_argument("--prefer", choices=["newest", "first"], default=None,
                     help="resolve conflicting cells: newest created_at, or the first folder holding one")

    ls = add(sub, "ls", help="list tasks, models, conditions, plots, or a model's instruction prefixes")
    ls.add_argument("what", choices=["tasks", "models", "conditions", "plots", "instructions"])
    ls.add_argument("model", nargs="?", help="for 'instructions': the model (name or bundled alias)")
    ls.add_argument("--conditions", type=_csv, default=None,
                    help="for 'instructions': comma-separated conditions (default: all)")
    ls.add_argument("--results", type=Path, default=None, help="results folder for 'plots' (default: ./results)")
    ls.add_argument("--mteb", action="store_true",
                    help="for 'tasks': mteb's registry text tasks (cached offline or not; per instruction file the "
                         "kind of official instruction: task, type, default, -)")
    ls.add_argument("--type", dest="task_type", default=None, help="for 'tasks': only tasks of this mteb type")
    ls.add_argument("--lang", default=None, help="for 'tasks --mteb': only tasks in this language (eng, deu-Latn)")
    _search_dirs(ls)

    data = add(sub, "data", help="build task data from public sources")
    data_sub = data.add_subparsers(dest="source", required=True)
    ding = add(data_sub, "ding", help="German-English sentence pairs from Debian trans-de-en 1.9 (GPL-2+)")
    ding.add_argument("--deb", type=Path, default=None, help="a downloaded .deb (default: apt-get download)")
    ding.add_argument("--source", type=Path, default=None, help="the dictionary file (usr/share/trans/de-en)")
    ding.add_argument("--tasks-dir", type=Path, default=None, help="where the task folders are (default: ./tasks)")

    ins = add(sub, "instructions", help="per-model instruction files (exported from mteb's registry)")
    ins_sub = ins.add_subparsers(dest="action", required=True)
    exp = add(ins_sub, "export", help="write instructions/<org>__<model>.yaml from mteb's registry (no weights)")
    exp.add_argument("models", nargs="*", metavar="MODEL", help="mteb registry names (e.g. Qwen/Qwen3-Embedding-0.6B)")
    exp.add_argument("--all", action="store_true", help="re-export every committed file that came from mteb")
    exp.add_argument("--out", type=Path, default=None, help="output file (one MODEL only)")
    exp.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")

    val = add(sub, "validate", help="validate every task spec, data file and instruction file (or only PATHs)")
    val.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="task folders, set files, instruction files, or folders holding them (default: all)")
    _search_dirs(val)

    cache = add(sub, "cache", help="the embedding cache: size per model, or clear it")
    cache_sub = cache.add_subparsers(dest="action", required=True)
    for action, what in (("info", "models, vectors and bytes in the cache"), ("clear", "delete cached vectors")):
        c = add(cache_sub, action, help=what)
        c.add_argument("--cache-dir", type=Path, default=None, help="the cache folder (default: .cache/embeddings)")
        if action == "clear":
            c.add_argument("--model", default=None, help="one model: its alias, name or identity (every revision)")
            c.add_argument("--all", action="store_true", help="every model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(online=args.online)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for noisy in ("mteb", "datasets", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        with signals.stop_like_ctrl_c():  # SIGTERM / SIGHUP stop cleanly, as Ctrl-C does
            return _dispatch(args)
    except HarnessError as e:
        for line in e.lines():
            print(f"{e.prefix}{line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:  # outside a run's cells (those say how many finished): nothing half-written
        signum = signals.signal_of(e)
        how = "" if signum == signal.SIGINT else f" ({signals.name_of(signum)})"
        print(f"interrupted{how}; rerun the same command to continue", file=sys.stderr)
        return signals.exit_code(signum)
    except BrokenPipeError:  # `harness ls ... | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not complain either
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    from harness import api

    results_dir: Path = getattr(args, "results", None) or api.DEFAULT_RESULTS
    api.add_search_dirs(tasks=getattr(args, "tasks_dirs", None), sets=getattr(args, "sets_dirs", None))
    if args.command == "run":
        summary = api.run(args.model, tasks=args.tasks, conditions=args.conditions,
                          results_dir=results_dir, batch_size=args.batch_size, threads=args.threads,
                          cache_dir=args.cache_dir, use_cache=not args.no_cache, skip_invalid=args.skip_invalid,
                          all_cells=args.all_cells, verbose=args.verbose, executor=args.executor,
                          ray_address=args.ray_address, workers=args.workers,
                          gpus_per_worker=args.gpus_per_worker, name=args.name,
                          instructions_file=args.instructions_file, benchmark=args.benchmark,
                          task_types=args.task_types)
        for label, why in summary.recomputed:
            print(f"  recomputed {label} ({why})", file=sys.stderr)
        print(summary.line())
        if summary.workers:  # Ray: where each model ran (GPU ids when the cluster has GPUs)
            print(f"workers: {'; '.join(summary.workers)}", file=sys.stderr)
        for label, err in summary.failed:
            print(f"  failed {label}: {err}", file=sys.stderr)
        if summary.log_file is not None:
            print(f"log (library output): {summary.log_file}", file=sys.stderr)
        return 1 if summary.failed else 0
    if args.command == "try":
        tried = api.try_instructions(args.model, instructions=args.instruction, words=args.words, pairs=args.pairs,
                                     side=args.side, batch_size=args.batch_size, threads=args.threads,
                                     cache_dir=args.cache_dir, use_cache=not args.no_cache, save=args.save,
                                     task=args.task_name, set_name=args.set_name, name=args.name,
                                     instructions_file=args.instructions_file)
        print(tried.table())
        return 0
    if args.command == "cache":
        return _cache(args)
    if args.command == "aggregate":
        from harness.analysis.decomposition import plain_deltas  # pandas: only where tables are printed
        from harness.analysis.headline import text as headline_text
        from harness.analysis.tables import delta_ci_table, delta_table, language_table, pair_table

        if args.executor == "ray" and args.stats_workers is not None:
            raise HarnessError("--stats-workers is for --executor local; with --executor ray the cluster's CPUs "
                               "decide")
        if args.stats_workers is not None:
            os.environ["HARNESS_STATS_WORKERS"] = str(args.stats_workers)
        else:  # the command uses every core; the Python API stays in-process unless asked (stats.stats_workers)
            os.environ.setdefault("HARNESS_STATS_WORKERS", str(os.cpu_count() or 1))
        board, deltas = api.aggregate(results_dir, multiplicity=args.multiplicity, executor=args.executor,
                                      ray_address=args.ray_address)
        _timings(args.timings)
        print(f"wrote {results_dir / 'leaderboard.parquet'} ({len(board)} rows), "
              f"{results_dir / 'deltas.parquet'} ({len(deltas)} rows)\n")
        for line in api.stale_lines(results_dir):
            print(line, file=sys.stderr)
        print(headline_text(board, deltas))
        print()
        print(delta_table(board))
        print()
        print(delta_ci_table(plain_deltas(deltas)))
        print()
        print(pair_table(board))
        print()
        print(language_table(board))
        names = ["decomposition", "paraphrase", "ranks", "family"]
        for view, text in zip(names, api.compare_views(results_dir, names), strict=True):  # read back from disk
            print(f"\n{view}:\n{text}")
        for plot in api.list_plots(results_dir):
            print(f"plot: {plot}")
        print(f"report: {results_dir / 'report.html'} (and report.md); leaderboard: {results_dir / 'leaderboard.html'}")
        return 0
    if args.command == "publish":
        print(api.publish(args.out, results_dir, with_predictions=args.with_predictions).line())
        return 0
    if args.command == "merge":
        print(api.merge(args.sources, args.into, prefer=args.prefer).line(len(args.sources), args.prefer))
        return 0
    if args.command == "compare":
        print(api.compare(results_dir, tasks=args.tasks, models=args.models, view=args.view,
                          baseline=args.baseline, conditions=args.conditions))
        return 0
    if args.command == "data":
        for line in api.build_ding(deb=args.deb, source=args.source, tasks_dir=args.tasks_dir):
            print(line)
        return 0
    if args.command == "ls" and args.what == "instructions":
        if not args.model:
            raise HarnessError("ls instructions: name a model, e.g. `harness ls instructions minilm`")
        rows = api.list_instructions(args.model, args.conditions)
        width = max((len(r["task"]) for r in rows), default=4)
        cwidth = max((len(r["condition"]) for r in rows), default=9)
        print(f"{rows[0]['model'] if rows else args.model}: exact prefix per task, role and condition")
        for r in rows:
            print(f"{r['task']:<{width}}  {r['role']:<8}  {r['condition']:<{cwidth}}  {r['prefix']!r}")
        return 0
    if args.command == "instructions":
        names = api.exported_models() if args.all else args.models
        if not names:
            raise HarnessError("instructions export: name a MODEL or pass --all")
        if args.out and len(names) != 1:
            raise HarnessError("instructions export: --out takes exactly one MODEL")
        stale = []
        for name in names:
            path, changed = api.export_instructions(name, out=args.out, check=args.check)
            state = ("differs" if changed else "up to date") if args.check else ("wrote" if changed else "unchanged")
            print(f"{state:<10}  {path}")
            stale += [path] if changed else []
        return 1 if args.check and stale else 0
    if args.command == "ls" and args.what == "plots":
        if not results_dir.is_dir():
            raise HarnessError(f"{results_dir}: no such results folder; run `harness run` and `harness aggregate`, "
                               "or give --results")
        found = api.list_plots(results_dir)
        for plot in found:
            print(plot)
        if not found:  # say so, on stderr (stdout stays a list of paths); exit 0: no plots is a valid state
            print(f"no plots in {results_dir / 'plots'}: `harness aggregate --results {results_dir}` draws them "
                  "(language-split plots need a translation task's cells)", file=sys.stderr)
        return 0
    if args.command == "ls":
        if args.what == "conditions":
            for c in api.list_conditions():
                print(c)
            return 0
        items = (api.list_tasks(mteb=args.mteb, task_type=args.task_type, lang=args.lang) if args.what == "tasks"
                 else api.list_models())
        if args.what == "tasks" and not args.mteb:
            for line in api.broken_tasks():
                print(f"invalid task: {line}", file=sys.stderr)
        if items:
            keys = list(items[0])
            widths = {k: max(len(k), *(len(str(i[k])) for i in items)) for k in keys}
            print("  ".join(k.ljust(widths[k]) for k in keys))
            for i in items:
                print("  ".join(str(i[k]).ljust(widths[k]) for k in keys))
        return 0
    if args.command == "validate":
        checked, problems = api.validate_report(args.paths or None)
        for name in checked:
            print(f"ok  {name}")
        for line in problems.lines:
            print(f"error: {line}", file=sys.stderr)
        if problems:
            print(f"{len(problems.lines)} problem(s); {len(checked)} file(s) valid")
        return 2 if problems else 0
    raise AssertionError(args.command)


def _timings(show: bool) -> None:
    """``--timings``: the per-component table and one summary line on stderr. ``$HARNESS_TIMINGS_JSON``: the same
    figures as JSON at that path (what ``make perf PERF_MODE=aggregate`` reads, :mod:`harness.perf.aggregate_bench`)."""
    import time

    from harness.core import timers

    whole = timers.TIMERS.get(timers.AGGREGATE)
    process_cpu = time.process_time()
    if show and whole is not None:
        for line in timers.lines():
            print(line, file=sys.stderr)
        print(f"timings: aggregate {whole.total_cpu_s:.2f} CPU s ({whole.worker_cpu_s:.2f} in statistics workers), "
              f"{whole.wall_s:.2f} s wall; this process {process_cpu:.2f} CPU s in all (imports and console "
              f"included)", file=sys.stderr)
    if where := os.environ.get("HARNESS_TIMINGS_JSON"):
        timers.write_json(Path(where), process_cpu_s=round(process_cpu, 3))


def _cache(args: argparse.Namespace) -> int:
    from harness import api

    if args.action == "clear":
        if (args.model is None) == (not args.all):
            raise HarnessError("cache clear: give --model NAME or --all")
        n = api.clear_cache(args.model, args.cache_dir)
        print(f"cleared {n} vectors ({args.model or 'all models'})")
        return 0
    path, size, rows = api.cache_info(args.cache_dir)
    print(f"{path}: {size / 2**20:.1f} MiB on disk, {sum(r['vectors'] for r in rows)} vectors")
    if rows:
        keys = ["alias", "name", "revision", "identity", "dim", "vectors", "MiB"]
        table = [{**r, "MiB": f"{r['bytes'] / 2**20:.1f}"} for r in rows]
        widths = {k: max(len(k), *(len(str(t[k])) for t in table)) for k in keys}
        print("  ".join(k.ljust(widths[k]) for k in keys))
        for t in table:
            print("  ".join(str(t[k]).ljust(widths[k]) for k in keys))
    return 0
