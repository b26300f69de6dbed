"""Where the statistics run: in this process, in one pool of worker processes shared by a whole aggregate
(:func:`shared_pool`), or on an executor handed in (``harness aggregate --executor ray``:
:class:`harness.run.ray_pool.RayPool`). Every job carries its own seed, so the results never depend on where or in
which order the jobs ran; the jobs are handed out longest first (:func:`map_jobs`'s ``cost``) so that the last
seconds of a call do not run on one core while the others wait."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

J = TypeVar("J")
R = TypeVar("R")

WORKERS_ENV = "HARNESS_STATS_WORKERS"  # `--stats-workers N` (aggregate, run) is kept here for every caller
# Fewer jobs than this, and no worker count given: in this process. Measured on a 2-core box at load ≈ 4: the
# pool's start (fork server, imports) cost ≈ 3 s wall for 3 deltas that take 2.3 CPU s in all; one delta ≈
# 0.2–0.5 CPU s, so two workers win from about 15 deltas.
MIN_POOL_JOBS = 16


def stats_workers() -> int:
    """Processes for the statistics: $HARNESS_STATS_WORKERS (``harness aggregate`` sets it to its
    ``--stats-workers``, default the machine's cores), else 1 = in this process. A library caller gets no worker
    processes unless it asks: a pool started by a fork server re-imports the caller's ``__main__``, which a script
    without an ``if __name__ == "__main__":`` guard does not survive."""
    import os

    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{WORKERS_ENV}={raw!r}: not a whole number ≥ 1")
        return n
    return 1


class JobExecutor(Protocol):
    """What :func:`shared_pool` can take instead of its process pool: ``map(fn, jobs)`` = ``fn`` of every job, in
    order, wherever it likes (:class:`harness.run.ray_pool.RayPool`: Ray tasks on a cluster)."""

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterable[Any]: ...


_shared: dict[str, Any] = {"depth": 0, "pool": None, "workers": 0, "executor": None}


@contextlib.contextmanager
def shared_pool(workers: int | None = None, executor: JobExecutor | None = None) -> Iterator[None]:
    """Within this block every :func:`map_jobs` that runs in worker processes uses one pool (started on first use,
    shut down at the end): ``harness aggregate``'s geometry, stage 1, stage 2's redraws and the family summary pay
    for one pool's start. ``workers``: its size (default :func:`stats_workers`). ``executor``: an already started
    one (``harness aggregate --executor ray``) that every call with two jobs or more uses instead (nested blocks
    keep the outermost's)."""
    _shared["depth"] += 1
    if _shared["depth"] == 1:
        _shared["workers"] = workers if workers is not None else stats_workers()
        _shared["executor"] = executor
    try:
        yield
    finally:
        _shared["depth"] -= 1
        if _shared["depth"] == 0:
            _shared["executor"] = None
            pool, _shared["pool"] = _shared["pool"], None
            if pool is not None:
                pool.shutdown()


def _new_pool(workers: int) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx: multiprocessing.context.BaseContext
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["harness.stats.engine"])  # type: ignore[attr-defined]
    except ValueError:
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def map_jobs(fn: Callable[[J], tuple[R, float]], jobs: list[J], *, workers: int | None = None,
             timer: str | None = None, cost: Callable[[J], float] | None = None) -> list[R]:
    """``fn`` (a module-level worker function returning (result, its CPU seconds)) of every job, in order: in this
    process (``workers`` 1, fewer than 2 jobs, or ``workers`` not given and fewer than :data:`MIN_POOL_JOBS` with
    no pool started yet) or in worker processes — the :func:`shared_pool`'s executor (Ray) or pool when one is
    open, else a pool for this call. ``cost``: a job's expected cost; the jobs are handed to the workers costliest
    first (longest-processing-time order) and the results put back in the jobs' order. Every job carries its own
    seed, so results never depend on the workers or the order. The workers' CPU seconds go to ``timer``
    (:mod:`harness.core.timers`)."""
    from harness.core import timers

    executor = _shared["executor"] if len(jobs) >= 2 and workers != 1 else None  # started: takes every call
    n = 1
    if executor is None:
        if workers is None:  # by default, a pool only where it pays for its start (seconds on a loaded 2-core box)
            if _shared["depth"]:
                started = _shared["pool"] is not None
                workers = _shared["workers"] if started or len(jobs) >= MIN_POOL_JOBS else 1
            else:
                workers = stats_workers() if len(jobs) >= MIN_POOL_JOBS else 1
        n = workers
        if n <= 1 or len(jobs) < 2:
            return [fn(j)[0] for j in jobs]
    order = sorted(range(len(jobs)), key=lambda k: -cost(jobs[k])) if cost is not None else list(range(len(jobs)))
    handed = [jobs[k] for k in order]
    if executor is not None:  # a Ray cluster (harness aggregate --executor ray)
        got = list(executor.map(fn, handed))
    elif _shared["depth"] and n == _shared["workers"]:
        if _shared["pool"] is None:
            _shared["pool"] = _new_pool(n)
        got = list(_shared["pool"].map(fn, handed))
    else:
        with _new_pool(min(n, len(jobs))) as pool:
            got = list(pool.map(fn, handed))
    done: list[tuple[R, float]] = [got[0]] * len(jobs)
    for k, result in zip(order, got, strict=True):
        done[k] = result
    if timer is not None:
        timers.add_worker_cpu(timer, sum(cpu for _, cpu in done))
    return [result for result, _ in done]
