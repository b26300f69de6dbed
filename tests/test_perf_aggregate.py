"""``python -m harness.perf aggregate`` (make perf PERF_MODE=aggregate): the plumbing, on a one-cell mock grid.
Structure only — no timing is asserted (a benchmark, not a timed test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core import timers
from harness.perf import aggregate_bench

RUN_KEYS = {"wall_s", "process_cpu_s", "worker_cpu_s", "cpu_s", "components"}
COMPONENT_KEYS = {"cpu_s", "worker_cpu_s", "total_cpu_s", "wall_s", "calls", "parent"}


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        aggregate_bench.main(["--help"])
    assert done.value.code == 0
    assert "--add-condition" in capsys.readouterr().out


@pytest.mark.slow  # ~45 s on a loaded 2-core box: three `harness aggregate` processes (imports each) + two runs
def test_cold_warm_plus_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "perf-aggregate.json"
    grid = tmp_path / "grid"
    assert aggregate_bench.main(["--model", "mock", "--tasks", "ScaleAge", "--conditions", "none",
                                 "--add-condition", "blog", "--results", str(grid), "--out", str(out),
                                 "--threads", "1", "--stats-workers", "1"]) == 0
    r = json.loads(out.read_text(encoding="utf-8"))
    assert r["mode"] == "aggregate" and r["model"] == "mock" and r["cells"] == 1 and r["grid_built"] is True
    assert set(r["aggregate"]) == {"cold", "warm", "+1 condition"}
    for run in r["aggregate"].values():
        assert set(run) >= RUN_KEYS
        assert "harness aggregate" in run["components"] and "tables (parquet)" in run["components"]
        for comp in run["components"].values():
            assert set(comp) == COMPONENT_KEYS
    plus = r["aggregate"]["+1 condition"]
    assert plus["added_cells"] == 1 and plus["components"]["statistics: deltas"]["calls"] == 1
    assert r["run_cold_source"].startswith("measured") and r["run_cold_s"] > 0
    assert r["ratio_cold_aggregate_to_run"] == round(r["aggregate"]["cold"]["wall_s"] / r["run_cold_s"], 4)
    assert (grid / aggregate_bench.RUN_TIME_FILE).exists()  # the next run reuses the grid and its run time
    assert not (grid / "cells" / "blog").exists() and r["cells"] == aggregate_bench._cells(grid)  # copy got +1
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| component (CPU s) | cold | warm | +1 condition |" in md
    assert "wrote" in capsys.readouterr().out


def test_timers_nest_and_count_workers_in_parents(tmp_path: Path) -> None:
    """What ``--timings`` prints: nested components under their parent; workers' CPU in the component and in every
    component running around it; ``write_json`` is the snapshot."""
    timers.reset()
    with timers.timed("outer"):
        with timers.timed("inner"):
            timers.add_worker_cpu("inner", 2.5)
        with timers.timed("inner"):
            pass
    timers.add_worker_cpu("alone", 1.0)
    snap = timers.snapshot()
    assert list(snap) == ["outer", "inner", "alone"]
    assert snap["inner"]["parent"] == "outer" and snap["outer"]["parent"] is None and snap["inner"]["calls"] == 2
    assert snap["inner"]["worker_cpu_s"] == 2.5 and snap["outer"]["worker_cpu_s"] == 2.5
    assert snap["alone"]["worker_cpu_s"] == 1.0 and snap["alone"]["calls"] == 0
    table = timers.lines()
    assert table[1].startswith("outer ") and table[2].startswith("  inner ") and table[3].startswith("alone ")
    timers.write_json(tmp_path / "t.json", process_cpu_s=1.5)
    got = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert got == {"components": snap, "process_cpu_s": 1.5}
    timers.reset()
