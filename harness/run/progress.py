"""The run's one progress display, shared by every executor (local now, Ray later).

An executor tells a :class:`Progress` what happens; the display shows one line on the console:

  minilm/blog/DeEnTranslationRetrieval 7/15 cells |████▌     | encoded 2,048 of ~4,035 · 9,112 from cache · ~1m20s left

The interface is small: :meth:`Progress.note` (a line above the bar: skipped cells, the log file),
:meth:`~Progress.status` (what is happening now: importing mteb, loading the model), :meth:`~Progress.cell_started`,
:meth:`~Progress.strings` (the encoder reports each batch of strings it encoded or read from the cache),
:meth:`~Progress.cell_finished` and :meth:`~Progress.close`. Counts are of *distinct* strings per model, so the
summary says how many strings the models actually encoded and how many were reused from the embedding cache.

The estimate is made from the work left, not from cells × mean time (cells differ by 100× in size): the strings
still to encode (known before the run: every cell's exact strings minus those in the embedding cache or encoded by
an earlier cell, :func:`expected_new_strings`) at the measured encoding rate, plus the texts of the cells still to
run at the measured non-encoding seconds per text (mteb's search and scoring, probes, writes).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class CellPlan:
    """What one cell is expected to cost: its distinct input strings and how many of them are new."""

    label: str
    texts: int  # distinct input strings the cell feeds the model
    new: int  # of which neither in the embedding cache nor encoded by an earlier cell of the run
    task: str = ""  # cells of one task cost about the same outside encoding, whatever the condition


def expected_new_strings(cells: Sequence[tuple[str, str, str, Iterable[str]]],
                         present: Callable[[str, list[str]], list[bool]] | None) -> list[CellPlan]:
    """(label, task, model identity, exact strings) per cell, in run order → what each will encode.
    ``present(identity, strings)`` says which strings the embedding cache holds (None: no cache)."""
    seen: dict[str, set[str]] = {}
    out = []
    for label, task, identity, strings in cells:
        unique = list(dict.fromkeys(strings))
        known = seen.setdefault(identity, set())
        fresh = [s for s in unique if s not in known]
        cached = present(identity, fresh) if (present is not None and fresh) else [False] * len(fresh)
        new = sum(1 for hit in cached if not hit)
        known.update(unique)
        out.append(CellPlan(label, len(unique), new, task))
    return out


@dataclass
class Tally:
    """Distinct strings per model identity: encoded by the model vs read from the embedding cache."""

    encoded: dict[str, set[str]] = field(default_factory=dict)
    cached: dict[str, set[str]] = field(default_factory=dict)

    def add(self, identity: str, encoded: Iterable[str], cached: Iterable[str]) -> None:
        self.encoded.setdefault(identity, set()).update(encoded)
        self.cached.setdefault(identity, set()).update(cached)

    @property
    def n_encoded(self) -> int:
        return sum(len(s) for s in self.encoded.values())

    @property
    def n_reused(self) -> int:
        """Distinct strings served by the cache that this run did not encode itself."""
        return sum(len(s - self.encoded.get(i, set())) for i, s in self.cached.items())


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """One line on the console (tqdm over cells); ``enabled=False`` shows nothing but still counts.

    Where the display stream or stdout is not a terminal (CI, SLURM, ``| tee``), a redrawn line would fill the log
    with carriage-return frames: there (``plain``) each finished cell is one plain line and :meth:`close` prints a
    final summary line."""

    def __init__(self, *, total_cells: int, done_cells: int = 0, plans: Sequence[CellPlan] = (),
                 enabled: bool = True, stream: TextIO | None = None):
        self.total = total_cells
        self.done = done_cells
        self.plans = {p.label: p for p in plans}
        self.tally = Tally()
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.current = ""
        self.state = ""
        self.expected_new = sum(p.new for p in plans)
        self.remaining = dict(self.plans)  # cells not finished yet
        self.encode_seconds = 0.0  # time spent encoding, over the run
        self.encoded_total = 0  # strings encoded (a string re-encoded without a cache counts again)
        self.finished: list[tuple[str, int, float]] = []  # per finished cell: (task, texts, seconds not encoding)
        self._cell_t0 = 0.0
        self._cell_encode = 0.0
        self._bar: Any = None
        self._t0 = time.perf_counter()
        self.plain = enabled and not (_is_terminal(self.stream) and _is_terminal(sys.stdout))
        if enabled and not self.plain:
            from tqdm import tqdm

            # the whole line is ours (tqdm's own rate and estimate would be cells × mean); tqdm redraws it and
            # writes notes above it
            self._bar = tqdm(total=total_cells, initial=done_cells, file=self.stream, leave=False,
                             dynamic_ncols=True, bar_format="{desc}")
            self._refresh()

    # -- what the executor reports ------------------------------------------------------------------------------
    def note(self, line: str) -> None:
        """A line printed above the display (or plainly when it is off)."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        elif self.enabled:
            print(line, file=self.stream)

    def status(self, what: str) -> None:
        """What is happening now, e.g. ``importing mteb`` or ``loading the model``."""
        self.state = what
        self._refresh()

    def cell_started(self, label: str) -> None:
        self.current, self.state = label, ""
        self._cell_t0, self._cell_encode = time.perf_counter(), 0.0
        self._refresh()

    def strings(self, identity: str, encoded: Sequence[str], cached: Sequence[str], seconds: float) -> None:
        """The encoder encoded ``encoded`` (in ``seconds``) and read ``cached`` from the embedding cache."""
        self.tally.add(identity, encoded, cached)
        self.encoded_total += len(encoded)
        self.encode_seconds += seconds
        self._cell_encode += seconds
        self.state = ""
        self._refresh()

    def cell_finished(self, label: str) -> None:
        plan = self.remaining.pop(label, None)
        if plan is not None:
            self.finished.append((plan.task, plan.texts, self._other_seconds()))
        self.done += 1
        if self.plain:
            spent = time.perf_counter() - self._cell_t0 if self.current else 0.0
            print(f"cell {self.done}/{self.total} done: {label} in {_duration(spent)} · {self.postfix()}",
                  file=self.stream, flush=True)
        self.current, self.state = "", ""
        if self._bar is not None:
            self._bar.update(1)
        self._refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.plain:
            self.plain = False  # once
            enc, reused = self.tally.n_encoded, self.tally.n_reused
            print(f"run: {self.done}/{self.total} cells in {_duration(time.perf_counter() - self._t0)} · encoded "
                  f"{enc:,} · {reused:,} from cache", file=self.stream, flush=True)

    # -- the estimate ----------------------------------------------------------------------------------------
    def _other_seconds(self) -> float:
        """The current cell's time so far outside encoding."""
        return max(0.0, time.perf_counter() - self._cell_t0 - self._cell_encode) if self.current else 0.0

    def _other_estimate(self, plan: CellPlan) -> float:
        """A cell's time outside encoding (mteb's search and scoring, probes, writes): what the same task took
        under another condition; else a fixed cost per cell plus a cost per text, fitted to the finished cells
        (leaving out the run's first cell, which also pays one-off start-up costs, once there are others)."""
        fit = self.finished[1:] or self.finished
        same = [sec for task, _, sec in fit if task == plan.task]
        if same:
            return min(same)
        fixed = min(sec for _, _, sec in fit)
        texts = sum(n for _, n, _ in fit)
        per_text = sum(sec - fixed for _, _, sec in fit) / texts if texts else 0.0
        return fixed + plan.texts * per_text

    def seconds_left(self) -> float | None:
        """The strings still to encode × the measured seconds per encoded string, plus each unfinished cell's
        time outside encoding (:meth:`_other_estimate`; the running cell's minus what it has spent). None until a
        cell has finished and, with strings left to encode, some were encoded."""
        to_encode = max(0, self.expected_new - self.encoded_total)
        if not self.finished or (to_encode and not self.encoded_total):
            return None
        encode = to_encode * self.encode_seconds / self.encoded_total if to_encode else 0.0
        other = 0.0
        for label, plan in self.remaining.items():
            spent = self._other_seconds() if label == self.current else 0.0
            other += max(0.0, self._other_estimate(plan) - spent)
        return encode + other

    def postfix(self) -> str:
        parts = []
        enc, reused = self.tally.n_encoded, self.tally.n_reused
        parts.append(f"encoded {enc:,}" + (f" of ~{self.expected_new:,}" if self.expected_new else ""))
        parts.append(f"{reused:,} from cache")
        left = self.seconds_left()
        if self.done < self.total:
            parts.append(f"~{_duration(left)} left" if left is not None else "estimating time left")
        return " · ".join(parts)

    def _refresh(self) -> None:
        if self._bar is None:
            return
        self._bar.set_description_str(self.line(), refresh=False)
        self._bar.refresh()

    def line(self) -> str:
        where = (self.current or "run") + (f": {self.state}" if self.state else "")
        filled = round(10 * self.done / self.total) if self.total else 10
        return f"{where} {self.done}/{self.total} cells |{'█' * filled}{' ' * (10 - filled)}| {self.postfix()}"
