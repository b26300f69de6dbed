"""The errors users see: each problem is a single line naming what is wrong and where; the CLI exits with code 2.

- :class:`HarnessError`: one problem (``str(err)`` is one line);
- :class:`InputErrors`: several problems found at once (validating every input before a run), one line each;
- :class:`Problems`: collects problems instead of stopping at the first;
- :class:`Interrupted`: the user pressed Ctrl-C, or SIGTERM/SIGHUP arrived (exit code 130/143/129, one line
  saying how to resume).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def one_line(text: str) -> str:
    """``text`` with its line breaks shown as ``\\n`` (a key or value from a user's file may hold one)."""
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\u2028", "\\u2028").replace(
        "\u2029", "\\u2029")


class HarnessError(Exception):
    """A user-facing error. ``str(err)`` is one line (line breaks in the message are escaped)."""

    exit_code = 2
    prefix = "error: "  # what the CLI puts before each line

    def __init__(self, *args: object):
        super().__init__(*(one_line(a) if isinstance(a, str) else a for a in args))

    def lines(self) -> list[str]:
        """The problems, one line each."""
        return [str(self)]


class InputErrors(HarnessError):
    """Several problems at once, one line each (e.g. every invalid task, set and instruction file of a run);
    ``hint`` is a last line saying what to do about them."""

    def __init__(self, problems: list[str], hint: str = ""):
        self.problems = [one_line(p) for p in problems]
        self.hint = hint
        super().__init__("; ".join(self.problems) + (f"; {hint}" if hint else ""))

    def lines(self) -> list[str]:
        return [*self.problems, *([self.hint] if self.hint else [])]


class Interrupted(HarnessError):
    """Ctrl-C (or SIGTERM / SIGHUP, :mod:`harness.core.signals`): the run stopped cleanly (everything finished is
    kept); ``str(err)`` says how to resume. The exit code is the shell's for the signal: 128 + its number."""

    exit_code = 130
    prefix = ""

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.exit_code = 128 + signum


class Problems:
    """Collects one-line problems instead of stopping at the first (``with problems.collect(): ...``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, problem: HarnessError | str) -> None:
        new = problem.lines() if isinstance(problem, HarnessError) else [problem]
        self.lines += [line for line in new if line not in self.lines]

    def add_all(self, other: Problems) -> None:
        for line in other.lines:
            self.add(line)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Record a :class:`HarnessError` raised inside the block and carry on after it."""
        try:
            yield
        except HarnessError as e:
            self.add(e)

    def error(self, hint: str = "") -> HarnessError:
        """One :class:`HarnessError` for a single problem, :class:`InputErrors` for several (or with a hint)."""
        if len(self.lines) == 1 and not hint:
            return HarnessError(self.lines[0])
        return InputErrors(self.lines, hint)

    def raise_if_any(self, hint: str = "") -> None:
        if self.lines:
            raise self.error(hint)


def unknown(kind: str, name: str, known: Iterable[str], where: str = "") -> HarnessError:
    """An 'unknown X' error with close-match suggestions."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known) or '(none)'}"
    place = f" in {where}" if where else ""
    return HarnessError(f"unknown {kind} '{name}'{place}{hint}")
