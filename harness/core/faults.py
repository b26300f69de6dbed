"""Fault injection for reliability tests: real kills and real I/O errors at named points.

``HARNESS_FAULT="<action>:<point>[:<n>]"`` triggers ``action`` the n-th time (default 1st) the process passes
``checkpoint(point)``. Actions: ``kill`` (SIGKILL to itself — nothing runs after it, like a power cut),
``sigint`` (SIGINT to itself, as Ctrl-C in a terminal sends), ``sigterm`` and ``sighup`` (as SLURM / ``timeout``
and a closed terminal send) and ``enospc`` (raise ``OSError(ENOSPC)``, as a full
disk would). Points used by the harness: ``encode`` (before a
batch goes to the model), ``write`` (after a temporary file is written, before it is renamed into place),
``cell-done`` (after a cell's files are written), ``aggregate`` (between the first two tables aggregate writes
into its staging folder), ``aggregate-swap`` (after the staged outputs are complete, before they are swapped in).
Unset (the normal case) costs one dictionary lookup.

``HARNESS_FAULT_ONCE=<file>`` makes the fault fire once across processes: only the process that creates that
file (exclusively, writing its pid into it) fires, so a worker that Ray restarts after the kill runs on. The Ray
executor hands ``HARNESS_WORKER_FAULT`` to its workers as their ``HARNESS_FAULT`` (the driver keeps its own).
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

_seen: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    spec = os.environ.get("HARNESS_FAULT")
    if not spec:
        return
    action, _, rest = spec.partition(":")
    target, _, nth = rest.partition(":")
    if target != point:
        return
    _seen[point] += 1
    if _seen[point] != int(nth or 1):
        return
    once = os.environ.get("HARNESS_FAULT_ONCE")
    if once:
        try:
            fd = os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # another process (or this one, before a restart) already fired it
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        os.close(fd)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action in ("sigint", "sigterm", "sighup"):
        os.kill(os.getpid(), getattr(signal, action.upper()))
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
