"""The one error type users see: a single line naming what is wrong and where; the CLI exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A user-facing error. ``str(err)`` is one line."""

    exit_code = 2


def unknown(kind: str, name: str, known: Iterable[str], where: str = "") -> HarnessError:
    """An 'unknown X' error with close-match suggestions."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known) or '(none)'}"
    place = f" in {where}" if where else ""
    return HarnessError(f"unknown {kind} '{name}'{place}{hint}")
