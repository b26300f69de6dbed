"""SIGTERM and SIGHUP stop a command as Ctrl-C (SIGINT) does.

SLURM, Kubernetes and ``timeout`` send SIGTERM; closing a terminal or an ssh session sends SIGHUP. Python's default
for both is to die at once, mid-cell, with no message. :func:`stop_like_ctrl_c` turns them into
:class:`Stopped` (a ``KeyboardInterrupt``), so every ``except KeyboardInterrupt`` path runs: the cell in flight is
marked ``interrupted``, finished cells are kept, one line is printed, and the exit code is the shell's for that
signal (128 + its number: 130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

CAUGHT = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a ``KeyboardInterrupt``: SIGINT unless it is a :class:`Stopped`."""
    return exc.signum if isinstance(exc, Stopped) else int(signal.SIGINT)


def name_of(signum: int) -> str:
    return signal.Signals(signum).name


def exit_code(signum: int) -> int:
    return 128 + signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_like_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped`; the previous handlers come back after it. Only
    the main thread can install handlers: elsewhere (a notebook's worker thread) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in CAUGHT}
    for s in CAUGHT:
        if previous[s] is signal.SIG_IGN:  # nohup: the user asked to ignore SIGHUP
            continue
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
