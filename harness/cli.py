"""Command line: a thin mirror of the public API (``harness.api``).

Errors users can fix print one line to stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.offline import configure


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description="Do instructions change what embedding models do?")
    p.add_argument("--online", action="store_true", help="allow Hugging Face Hub downloads (default: offline)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="evaluate models × conditions × tasks (skips finished cells)")
    r.add_argument("--model", default="minilm", help="comma-separated model names (default: minilm)")
    r.add_argument("--tasks", type=_csv, default=None, help="comma-separated task names (default: all)")
    r.add_argument("--conditions", type=_csv, default=None, help="comma-separated conditions (default: none,blog)")
    r.add_argument("--results", type=Path, default=None, help="results folder (default: ./results)")
    r.add_argument("--batch-size", type=int, default=32)

    a = sub.add_parser("aggregate", help="rebuild leaderboard.parquet and deltas.parquet from results on disk")
    a.add_argument("--results", type=Path, default=None)

    ls = sub.add_parser("ls", help="list tasks, models or conditions")
    ls.add_argument("what", choices=["tasks", "models", "conditions"])

    sub.add_parser("validate", help="validate every task spec, data file and instruction file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(online=args.online)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for noisy in ("mteb", "datasets", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        return _dispatch(args)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


def _dispatch(args: argparse.Namespace) -> int:
    from harness import api, runner
    from harness.results import delta_table, pair_table

    results_dir = getattr(args, "results", None) or runner.DEFAULT_RESULTS
    if args.command == "run":
        summary = api.run(args.model, tasks=args.tasks, conditions=args.conditions,
                          results_dir=results_dir, batch_size=args.batch_size)
        print(summary.line())
        for label, err in summary.failed:
            print(f"  failed {label}: {err}", file=sys.stderr)
        return 1 if summary.failed else 0
    if args.command == "aggregate":
        board, deltas = api.aggregate(results_dir)
        print(f"wrote {results_dir / 'leaderboard.parquet'} ({len(board)} rows), "
              f"{results_dir / 'deltas.parquet'} ({len(deltas)} rows)\n")
        print(delta_table(board))
        print()
        print(pair_table(board))
        return 0
    if args.command == "ls":
        rows = {"tasks": api.list_tasks, "models": api.list_models}.get(args.what)
        if rows is None:
            for c in api.list_conditions():
                print(c)
            return 0
        items = rows()
        if items:
            keys = list(items[0])
            widths = {k: max(len(k), *(len(str(i[k])) for i in items)) for k in keys}
            print("  ".join(k.ljust(widths[k]) for k in keys))
            for i in items:
                print("  ".join(str(i[k]).ljust(widths[k]) for k in keys))
        return 0
    if args.command == "validate":
        for path in api.validate():
            print(f"ok  {path}")
        return 0
    raise AssertionError(args.command)
