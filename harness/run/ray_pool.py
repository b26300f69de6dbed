"""The statistics of ``harness aggregate --executor ray`` on Ray: the same engine (and the same connection:
:func:`harness.run.ray_executor.connect`) as ``harness run --executor ray``, not a scheduler of our own.

:class:`RayPool` is what :func:`harness.stats.pool.shared_pool` takes instead of its process pool: each job of a
``map`` is one Ray task (one CPU), the results come back in the jobs' order. Every job carries its own seed, so
the numbers are the local pool's bit for bit (tests/test_ray_aggregate.py). The workers import ``harness`` the way
the run's actors do: on a local instance from this checkout, on a cluster from the same version installed on its
nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Ray tasks in flight at once: enough to keep a cluster's CPUs busy, bounded so that a grid's thousands of
# deltas do not all sit in the object store as arguments at the same time.
MAX_IN_FLIGHT = 256


class RayPool:
    """``map(fn, jobs)``: ``fn`` of every job as Ray tasks of one CPU each on the connected cluster, in order."""

    def __init__(self, ray: Any, *, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.ray = ray
        self.max_in_flight = max_in_flight
        self._remote: dict[Callable[[Any], Any], Any] = {}
        self.tasks = 0  # Ray tasks submitted

    def _task(self, fn: Callable[[Any], Any]) -> Any:
        if fn not in self._remote:
            self._remote[fn] = self.ray.remote(num_cpus=1, max_retries=2)(fn)
        return self._remote[fn]

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
        remote = self._task(fn)
        out: list[Any] = []
        for start in range(0, len(jobs), self.max_in_flight):
            refs = [remote.remote(job) for job in jobs[start:start + self.max_in_flight]]
            self.tasks += len(refs)
            out.extend(self.ray.get(refs))
        return out
