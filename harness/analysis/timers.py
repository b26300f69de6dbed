"""The harness's own per-component timers: CPU seconds (this process, plus what pool workers report for the work
they did for it) and wall seconds per named component, summed over a process's life. ``harness aggregate`` logs
them and ``make perf PERF_MODE=aggregate`` prints them (:mod:`harness.perf.aggregate_bench`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Timer:
    cpu_s: float = 0.0  # this process's CPU seconds inside the component
    worker_cpu_s: float = 0.0  # CPU seconds pool workers spent on its behalf
    wall_s: float = 0.0
    calls: int = 0

    @property
    def total_cpu_s(self) -> float:
        return self.cpu_s + self.worker_cpu_s


TIMERS: dict[str, Timer] = {}


def reset() -> None:
    TIMERS.clear()


@contextmanager
def timed(name: str) -> Iterator[Timer]:
    """Add the block's CPU and wall seconds to the component ``name`` (nested blocks count in both)."""
    t = TIMERS.setdefault(name, Timer())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        yield t
    finally:
        t.cpu_s += time.process_time() - cpu0
        t.wall_s += time.perf_counter() - wall0
        t.calls += 1


def add_worker_cpu(name: str, seconds: float) -> None:
    TIMERS.setdefault(name, Timer()).worker_cpu_s += seconds


def snapshot() -> dict[str, dict[str, float]]:
    """{component: {cpu_s, worker_cpu_s, total_cpu_s, wall_s, calls}}, largest CPU first."""
    rows = sorted(TIMERS.items(), key=lambda kv: -kv[1].total_cpu_s)
    return {k: {"cpu_s": round(t.cpu_s, 3), "worker_cpu_s": round(t.worker_cpu_s, 3),
                "total_cpu_s": round(t.total_cpu_s, 3), "wall_s": round(t.wall_s, 3), "calls": t.calls}
            for k, t in rows}


def lines() -> list[str]:
    snap = snapshot()
    total = sum(v["total_cpu_s"] for v in snap.values()) or 1.0
    out = [f"{'component':36s} {'CPU s':>8s} {'workers':>8s} {'wall s':>8s} {'share':>6s}"]
    for k, v in snap.items():
        out.append(f"{k:36s} {v['cpu_s']:8.2f} {v['worker_cpu_s']:8.2f} {v['wall_s']:8.2f} "
                   f"{100 * v['total_cpu_s'] / total:5.1f}%")
    return out
