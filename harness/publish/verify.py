"""Checks of what ``publish`` and ``merge`` produce, usable from the tests and by hand::

    python -m harness.publish.verify OUT              # datasets.load_dataset round trip + mteb.ResultCache load
    python -m harness.publish.verify --same DIR DIR   # two results folders hold equal tables (apart from created_at)

Each prints one line per check and exits 1 when one fails.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from harness.core.offline import configure
from harness.results import trust

IGNORED = ("created_at",)  # differs between a merged folder and one run: when each cell was evaluated


def round_trip(out: Path) -> list[tuple[bool, str]]:
    """Load every config of a published folder with ``datasets`` (offline) and compare with its parquet files;
    load the mteb results tree with ``mteb.ResultCache``."""
    configure()
    import datasets
    import yaml

    trust.refuse_symlinks(out, "verify")  # the folder may come from someone else; nothing in it is executed
    readme = trust.checked(out, "README.md", where=out, field="README.md", kind="artifact")
    front = readme.read_text(encoding="utf-8").split("---\n", 2)[1]
    checks = []
    with tempfile.TemporaryDirectory(prefix="harness-verify-") as cache:
        for config in yaml.safe_load(front)["configs"]:
            name = config["config_name"]
            files = _data_files(out, config["data_files"][0]["path"], name)
            ds = datasets.load_dataset(str(out), name, split="train", cache_dir=cache)
            want = pq.ParquetDataset(files).read() if len(files) > 1 else pq.read_table(files[0])
            got = ds.data.table
            same_types = got.schema.remove_metadata() == want.schema.remove_metadata()
            same_rows = (got.num_rows == want.num_rows and (len(files) > 1 or got.replace_schema_metadata(None)
                                                            .equals(want.replace_schema_metadata(None))))
            checks.append((same_types and same_rows,
                           f"{name}: datasets.load_dataset → {got.num_rows:,} rows × {got.num_columns} columns; "
                           f"{len(files)} parquet file(s) → {want.num_rows:,} rows; types "
                           f"{'equal' if same_types else 'DIFFER'}, rows {'equal' if same_rows else 'DIFFER'}"))
    import mteb

    res = mteb.ResultCache(out).load_results(load_experiments="match_name")
    n = sum(len(m.task_results) for m in res.model_results)
    cells = len(list((out / "results").glob("*/*/experiments/*/*.json"))) - len(
        list((out / "results").glob("*/*/experiments/*/model_meta.json")))
    checks.append((n == cells, f"mteb.ResultCache: {n} task results in {len(res.model_results)} model × experiment "
                               f"entries; {cells} result files"))
    return checks


def _data_files(out: Path, pattern: object, name: str) -> list[Path]:
    """The parquet files a config's ``data_files`` pattern names, each a regular file inside ``out``."""
    field = f"configs[{name}].data_files"
    if not isinstance(pattern, str) or not pattern or pattern.startswith("/") or ".." in pattern.split("/"):
        raise trust.Refused(f"{out / 'README.md'}: field '{field}': {str(pattern)[:80]!r} is not a relative "
                            "pattern inside the folder")
    return [trust.checked(out, str(f.relative_to(out)), where=out / "README.md", field=field, kind="artifact")
            for f in sorted(out.glob(pattern))]


def same_tables(a: Path, b: Path) -> list[tuple[bool, str]]:
    """leaderboard.parquet and deltas.parquet of two results folders are equal, apart from ``created_at``."""
    checks = []
    for name in ("leaderboard", "deltas"):
        x, y = (pd.read_parquet(trust.checked(f, f"{name}.parquet", where=f, field=f"{name}.parquet",
                                              kind="artifact")) for f in (a, b))
        x, y = (df.drop(columns=[c for c in IGNORED if c in df.columns]) for df in (x, y))
        try:
            pd.testing.assert_frame_equal(x, y)
            checks.append((True, f"{name}: {len(x):,} rows, equal (apart from {', '.join(IGNORED)})"))
        except AssertionError as e:
            checks.append((False, f"{name}: DIFFER ({str(e).splitlines()[0]})"))
    return checks


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    try:
        if len(args) == 1 and not args[0].startswith("-"):
            if not (Path(args[0]) / "README.md").is_file():
                raise FileNotFoundError(f"{args[0]}: not a published folder (no README.md); run `harness publish`")
            checks = round_trip(Path(args[0]))
        elif len(args) == 3 and args[0] == "--same":
            for folder in args[1:]:
                if not (Path(folder) / "deltas.parquet").is_file():
                    raise FileNotFoundError(f"{folder}: no deltas.parquet; run `harness aggregate --results {folder}`")
            checks = same_tables(Path(args[1]), Path(args[2]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (FileNotFoundError, trust.Refused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for ok, line in checks:
        print(f"{'ok ' if ok else 'FAIL'} {line}")
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
