"""The harness's own per-component timers: CPU seconds (this process, plus what pool workers report for the work
they did for it) and wall seconds per named component, summed over a process's life. ``harness aggregate`` logs
them and ``make perf PERF_MODE=aggregate`` prints them (:mod:`harness.perf.aggregate_bench`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timer:
    cpu_s: float = 0.0  # this process's CPU seconds inside the component
    worker_cpu_s: float = 0.0  # CPU seconds pool workers spent on its behalf
    wall_s: float = 0.0
    calls: int = 0
    parent: str | None = None  # the component this one ran inside (first time it ran); None: top level

    @property
    def total_cpu_s(self) -> float:
        return self.cpu_s + self.worker_cpu_s


AGGREGATE = "harness aggregate"  # the whole of api.aggregate (tables, figures, report)
TIMERS: dict[str, Timer] = {}
_ACTIVE: list[str] = []  # the components whose blocks are running now, outermost first


def reset() -> None:
    TIMERS.clear()
    _ACTIVE.clear()


@contextmanager
def timed(name: str) -> Iterator[Timer]:
    """Add the block's CPU and wall seconds to the component ``name`` (nested blocks count in both)."""
    t = TIMERS.get(name)
    if t is None:
        t = TIMERS[name] = Timer(parent=_ACTIVE[-1] if _ACTIVE and _ACTIVE[-1] != name else None)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    _ACTIVE.append(name)
    try:
        yield t
    finally:
        _ACTIVE.pop()
        t.cpu_s += time.process_time() - cpu0
        t.wall_s += time.perf_counter() - wall0
        t.calls += 1


def add_worker_cpu(name: str, seconds: float) -> None:
    """Pool workers' CPU seconds for ``name``; also counted in every component running now (its parents)."""
    TIMERS.setdefault(name, Timer()).worker_cpu_s += seconds
    for active in dict.fromkeys(_ACTIVE):
        if active != name:
            TIMERS[active].worker_cpu_s += seconds


def snapshot() -> dict[str, dict[str, float | int | str | None]]:
    """{component: {cpu_s, worker_cpu_s, total_cpu_s, wall_s, calls, parent}}: top-level components largest CPU
    first, each followed by the components that ran inside it."""
    def children(parent: str | None) -> list[str]:
        return sorted((k for k, t in TIMERS.items() if t.parent == parent), key=lambda k: -TIMERS[k].total_cpu_s)

    order: list[str] = []

    def walk(parent: str | None) -> None:
        for k in children(parent):
            order.append(k)
            walk(k)

    walk(None)
    order += [k for k in TIMERS if k not in order]  # a parent that never ran itself (cannot happen; kept safe)
    return {k: {"cpu_s": round(t.cpu_s, 3), "worker_cpu_s": round(t.worker_cpu_s, 3),
                "total_cpu_s": round(t.total_cpu_s, 3), "wall_s": round(t.wall_s, 3), "calls": t.calls,
                "parent": t.parent} for k in order for t in [TIMERS[k]]}


def _depth(name: str) -> int:
    depth, t = 0, TIMERS.get(name)
    while t is not None and t.parent is not None and depth < 10:
        depth, t = depth + 1, TIMERS.get(t.parent)
    return depth


def lines(total_cpu_s: float | None = None) -> list[str]:
    """The table: CPU s in this process, in pool workers, wall s, and the share of ``total_cpu_s`` (default: the
    top-level components' sum). A component that ran inside another is indented under it and counted in both."""
    snap = snapshot()
    top = sum(float(v["total_cpu_s"]) for v in snap.values() if v["parent"] is None)  # type: ignore[arg-type,misc]
    total = total_cpu_s or top or 1.0
    out = [f"{'component':50s} {'CPU s':>8s} {'workers':>8s} {'wall s':>8s} {'share':>6s}"]
    for k, v in snap.items():
        name = "  " * _depth(k) + k
        out.append(f"{name:50s} {v['cpu_s']:8.2f} {v['worker_cpu_s']:8.2f} {v['wall_s']:8.2f} "
                   f"{100 * float(v['total_cpu_s']) / total:5.1f}%")  # type: ignore[arg-type]
    return out


def write_json(path: Path, **extra: float) -> None:
    """The snapshot (and ``extra`` figures, e.g. the whole process's CPU seconds) as JSON at ``path``."""
    path.write_text(json.dumps({"components": snapshot(), **extra}, indent=1), encoding="utf-8")
