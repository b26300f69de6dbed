"""One ``harness run`` at a time per results folder: a lock file, ``<results>/.run.lock``.

A second run on a folder a live run holds **refuses at once**, in one line naming the other run (pid, host, start
time, command): two runs on one folder compute the shared cells twice and each rewrites ``run-status.json`` with
its own cells, and a run that waited silently would hold a batch slot doing nothing. The cells the first run
finishes are reused when the second is started again.

The lock is an exclusive ``flock`` on the file, held for the whole run: the kernel releases it when the process
ends, however it ends, so a run killed with SIGKILL or by a power cut leaves no lock that blocks the next one. The
file holds the holder's pid, host, start time and command; a file left by a run that is gone (its pid no longer
alive on this host) is taken over, and the run says so in its log. On file systems without ``flock`` (some network
mounts) the pid check alone decides.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.core.errors import HarnessError

log = logging.getLogger(__name__)
LOCK_FILE = ".run.lock"



def _holder(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return body if isinstance(body, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(h: dict[str, Any]) -> str:
    return (f"pid {h.get('pid', '?')} on {h.get('host', '?')}, started {h.get('started_at', '?')}: "
            f"{h.get('command', '?')}")


def _refuse(path: Path, h: dict[str, Any]) -> HarnessError:
    return HarnessError(f"{path.parent}: another harness run is using this results folder ({_describe(h)}); wait "
                        f"for it to finish, or give another --results (if that run is gone, delete {path})")


@contextlib.contextmanager
def hold(results_dir: Path) -> Iterator[Path]:
    """Hold the results folder's run lock for the block, or raise one :class:`HarnessError` line naming the run
    that holds it."""
    path = results_dir / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
          "command": " ".join(["harness", *sys.argv[1:]]) if sys.argv else "harness"}
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise HarnessError(f"{path}: cannot create the run lock ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise _refuse(path, _holder(path)) from None
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise HarnessError(f"{path}: cannot lock ({e.strerror or e})") from None
            fd = -1  # no flock here: the pid in the file decides
        if fd >= 0:
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the holder removed the file between our open and our lock: lock the new one
                os.close(fd)
                continue
        previous = _holder(path)
        if previous.get("pid") and previous.get("pid") != me["pid"]:
            if fd < 0 and (previous.get("host") != me["host"] or atomic.pid_alive(int(previous["pid"]))):
                raise _refuse(path, previous)
            log.warning("took over the run lock of %s (that run is gone)", _describe(previous))
        break
    try:
        data = json.dumps(me).encode()
        if fd >= 0:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        else:
            path.write_bytes(data)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before the unlock: whoever opens the path next creates a new file and locks that
        if fd >= 0:
            os.close(fd)
