"""`make perf`'s arithmetic and report (the benchmark itself is too slow for a test) and the store benchmark."""

from __future__ import annotations

import pytest

from harness.perf import bench as perf


def variant(process: float, in_run: float, encoded: int, rss: float = 100.0, **extra: object) -> dict:
    return {"process_s": process, "in_run_s": in_run, "load_s": 1.0, "encode_s": in_run / 2, "encoded": encoded,
            "peak_rss_mib": rss, "torch_threads": 1, "cells_ran": 2, "cells_reused": 0, "asked_distinct": encoded,
            **extra}


def test_figures_and_targets() -> None:
    v = {
        "harness_cold": variant(110, 100, 8000),
        "minimal": variant(60, 50, 8000),
        "mteb_plain": variant(300, 200, 40000, scores={"none/T/default/test": 0.5}),
        "harness_warm": variant(5, 4, 0),
        "harness_warm_eval": variant(50, 40, 0),
        "harness_new_condition": variant(60, 50, 4000, expected_new=4000, encoded_equals_new_inputs=True),
    }
    fig = perf._figures(v, {"none/T/default/test": 0.5000001})
    assert fig["a_cold_vs_minimal"]["in_run_ratio"] == pytest.approx(2.0)
    assert fig["b_harness_vs_mteb"]["in_run_ratio"] == pytest.approx(0.5)
    assert fig["b_harness_vs_mteb"]["max_abs_main_score_diff"] == pytest.approx(1e-7)
    assert fig["c_warm_vs_cold"]["skip_in_run_ratio"] == pytest.approx(0.04)
    assert fig["d_new_condition"]["equal"] is True
    report = {**fig, "variants": v, "grid": {"model": "m", "tasks": ["T"], "conditions": ["none"], "batch_size": 32},
              "machine": {"cpu": "x", "cores": 2, "memory_gib": 1, "torch": "2", "load_avg_at_start": [0, 0, 0],
                          "load_avg_at_end": [0, 0, 0]}}
    text = perf.render(report)
    assert "a. cold harness / minimal script: in-run 2.00× (target ≤ 1.10: MISSED by 1.82×)" in text
    assert "b. harness / plain mteb.evaluate: in-run 0.50× (target ≤ 0.75: met)" in text
    assert "rerun of finished cells in-run 4.0% (target ≤ 5%: met)" in text
    assert "d. one new condition: 4000 strings encoded, its new inputs 4000 (equal;" in text


def test_store_benchmark_runs_on_sqlite() -> None:
    out = perf.bench_stores(n=300, dim=8, batch=100, repeats=1)
    assert out["sqlite-wal"]["write_per_s"] > 0 and out["sqlite-wal"]["read_per_s"] > 0
    assert out["sqlite-wal"]["size_mib"] > 300 * 8 * 4 / 2**20


def ray_variant(process: float, in_run: float, cells: int = 10, **timings: float) -> dict:
    return {"process_s": process, "in_run_s": in_run, "import_s": 1.0, "cells": cells, "encoded": 100,
            "timings": timings}


def ray_text(fig: dict, v: dict) -> str:
    """``perf ray``'s printed report for these figures on a made-up grid and machine."""
    from harness.perf import ray_bench

    return ray_bench.render({**fig, "variants": v, "grid": {"models": ["a"], "tasks": ["T"], "conditions": ["none"],
                                                            "batch_size": 32, "cells": 10},
                             "machine": {"cpu": "x", "cores": 2, "memory_gib": 1, "load_avg_at_start": [0, 0, 0],
                                         "load_avg_at_end": [0, 0, 0]}})


def test_ray_benchmark_figures_and_report() -> None:
    from harness.perf import ray_bench

    v = {"local": ray_variant(100, 90),
         "ray-2": ray_variant(50, 45, ray_start_s=4.0, worker_start_mean_s=6.0, workers_started=3),
         "ray-1": ray_variant(125, 115, ray_start_s=5.0, worker_start_mean_s=6.0, workers_started=3)}
    scores = {"local": {"k": 0.5, "only-local": 0.1}, "ray-2": {"k": 0.5}, "ray-1": {"k": 0.5 + 2e-7}}
    fig = ray_bench.figures(v, scores)
    assert fig["speedup_process"] == pytest.approx(2.0)
    assert fig["speedup_in_run"] == pytest.approx(2.0)
    assert fig["ray_start_s"] == 5.0  # ray-1's, the variant the overhead is computed from
    assert fig["per_cell_overhead_s"] == pytest.approx((115 - 5 - 90) / 10)  # 2.0 s
    assert fig["per_cell_overhead_excl_worker_starts_s"] == pytest.approx((115 - 5 - 90 - 3 * 6) / 10)  # 0.2 s
    assert fig["main_scores_compared"] == 1 and fig["max_abs_main_score_diff"] == pytest.approx(2e-7)
    text = ray_text(fig, v)
    assert "2.00× whole process (target ≥ 1.6: met), 2.00× in-run" in text
    assert "per cell 2.00 s ((ray-1 − start-up − local) / cells; 0.20 s without ray-1's 3 worker starts)" in text
    assert "1 main scores compared across 3 runs: max |Δ| 2.0e-07" in text


def test_ray_benchmark_without_ray_1_has_no_per_cell_figure() -> None:
    from harness.perf import ray_bench

    v = {"local": ray_variant(100, 90), "ray-2": ray_variant(80, 70, ray_start_s=4.0, worker_start_mean_s=6.0)}
    fig = ray_bench.figures(v, {"local": {"k": 0.5}, "ray-2": {"k": 0.5}})
    assert fig["speedup_process"] == pytest.approx(1.25) and fig["per_cell_overhead_s"] is None
    text = ray_text(fig, v)
    assert "1.25× whole process (target ≥ 1.6: MISSED)" in text
    assert "a worker's start 6.0 s (mean)\n" in text
    with pytest.raises(ValueError, match="no Ray variant"):
        ray_bench.figures({"local": ray_variant(1, 1)}, {"local": {}})
