"""What must hold before a results folder is published or shared; each failure is one line naming the file, why,
and what to run. Nothing stale and no delta without its interval is ever published silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import HarnessError
from harness.results import layout, trust
from harness.results.schema import identical_inputs
from harness.stats import engine

LEADERBOARD = "leaderboard.parquet"
DELTAS = "deltas.parquet"
STALE_CELLS = "stale-cells.json"  # cells aggregate found stale (written by aggregate when it finds any)


@dataclass
class Checked:
    """A results folder that passed every check, with what was read on the way."""

    results_dir: Path
    board: pd.DataFrame
    deltas: pd.DataFrame
    sidecars: list[tuple[Path, dict[str, Any]]]
    files: dict[Path, list[trust.CellFile]]  # by sidecar: every file of the cell with its sha256 (pinned or computed)


def _aggregate_hint(results_dir: Path) -> str:
    return f"run `harness aggregate --results {results_dir}`"


def _stale_entries(path: Path) -> list[Any]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HarnessError(f"{path}: unreadable ({e.__class__.__name__}); {_aggregate_hint(path.parent)}") from None
    if isinstance(data, dict):
        data = data.get("cells", data.get("stale", []))
    return list(data) if isinstance(data, list | dict) else []


def check(results_dir: Path) -> Checked:
    """Raise :class:`HarnessError` unless the folder's parquet files are current and complete."""
    if not results_dir.is_dir():
        raise HarnessError(f"{results_dir}: no such results folder")
    board_path, deltas_path = results_dir / LEADERBOARD, results_dir / DELTAS
    for p in (board_path, deltas_path):
        if not p.exists():
            raise HarnessError(f"{p}: missing; {_aggregate_hint(results_dir)} first")
    try:
        sides, files = _trusted_cells(results_dir)
    except trust.Refused as e:
        raise trust.Refused(f"{e}; nothing published") from None
    if not sides:
        raise HarnessError(f"{results_dir}: no cells to publish; run `harness run` first")
    for listing in (results_dir / layout.LEFT_OUT_CELLS, results_dir / STALE_CELLS):  # STALE_CELLS: older name
        stale = _stale_entries(listing)
        if not stale:
            continue
        first = stale[0].get("cell", stale[0]) if isinstance(stale[0], dict) else stale[0]
        raise HarnessError(f"{listing}: {len(stale)} cell(s) left out, stale or unreadable (e.g. {first}); "
                           f"rerun them with `harness run` and {_aggregate_hint(results_dir)} before publishing")
    written = min(board_path.stat().st_mtime, deltas_path.stat().st_mtime)
    newer = [p for p, _ in sides if p.stat().st_mtime > written]
    if newer:
        raise HarnessError(f"{deltas_path}: older than {len(newer)} cell(s) (e.g. {newer[0]}); "
                           f"{_aggregate_hint(results_dir)} so the published tables include them")
    board, d = pd.read_parquet(board_path), pd.read_parquet(deltas_path)
    _same_cells(results_dir, board, sides)
    _intervals(deltas_path, d)
    return Checked(results_dir, board, d, sides, files)


def _trusted_cells(results_dir: Path) -> tuple[list[tuple[Path, dict[str, Any]]], dict[Path, list[trust.CellFile]]]:
    """Every sidecar and cell file, read through :mod:`harness.results.trust` (the folder may come from someone
    else, e.g. a merge): no link anywhere, every path inside the folder, sizes bounded, pins well-formed."""
    trust.refuse_symlinks(results_dir, "publish")
    for name in (LEADERBOARD, DELTAS):
        trust.checked(results_dir, name, where=results_dir, field=name, kind="artifact")
    sides, files = [], {}
    for path in layout.sidecar_files(results_dir) if (results_dir / layout.CELLS_DIR).is_dir() else []:
        side = trust.sidecar(results_dir, path)
        sides.append((path, side))
        files[path] = trust.cell_files(results_dir, path, side)
    return sides, files


def _same_cells(results_dir: Path, board: pd.DataFrame, sides: list[tuple[Path, dict[str, Any]]]) -> None:
    """The leaderboard holds exactly the cells on disk, as they are now (timestamps can lie after a copy)."""
    keys = ["model", "revision", "condition", "task", "instruction_sha256", "created_at"]
    in_board = set(board[keys].drop_duplicates().itertuples(index=False, name=None))
    on_disk = {(s["model"], s["revision"], s["condition"], s["task"], s["prompts_sha256"], s["created_at"]): p
               for p, s in sides}
    missing = [p for k, p in on_disk.items() if k not in in_board]
    gone = [k for k in in_board if k not in on_disk]
    if missing:
        raise HarnessError(f"{results_dir / LEADERBOARD}: does not hold {len(missing)} cell(s) on disk (e.g. "
                           f"{missing[0]}); {_aggregate_hint(results_dir)}")
    if gone:
        raise HarnessError(f"{results_dir / LEADERBOARD}: holds {len(gone)} cell(s) no longer on disk (e.g. "
                           f"{'/'.join(gone[0][:4])}); {_aggregate_hint(results_dir)}")


def missing_intervals(d: pd.DataFrame) -> pd.DataFrame:
    """Main-metric deltas that should have a 95% CI and do not (identical inputs need none)."""
    main = d[(d.kind == "mteb") & d.is_main & ~identical_inputs(d)]
    recomputable = [engine.metric_for(t, m) is not None for t, m in zip(main.task_type, main.metric, strict=True)]
    should = main[pd.Series(recomputable, index=main.index, dtype=bool)]  # a plain [] would select no columns
    return should[should.ci_low.isna() | should.ci_high.isna()]


def _intervals(deltas_path: Path, d: pd.DataFrame) -> None:
    if "ci_low" not in d.columns:
        raise HarnessError(f"{deltas_path}: written by an older harness (no intervals); "
                           f"{_aggregate_hint(deltas_path.parent)}")
    if d.empty:
        conditions = sorted({s["condition"] for _, s in layout.sidecars(deltas_path.parent)})
        raise HarnessError(f"{deltas_path}: no deltas to publish (the cells hold only condition(s) "
                           f"{', '.join(conditions) or '(none)'}); run another condition with its baseline, e.g. "
                           "`harness run --conditions none,blog`, then aggregate")
    bad = missing_intervals(d)
    if not bad.empty:
        r = bad.iloc[0]
        raise HarnessError(f"{deltas_path}: {len(bad)} main-metric delta(s) without a 95% CI (e.g. {r.alias} "
                           f"{r.task}/{r.subset} {r.condition} − {r.baseline}): their item-level predictions are "
                           "missing or do not reproduce mteb's score; rerun those cells (delete their sidecars "
                           f"under cells/) and {_aggregate_hint(deltas_path.parent)}")
