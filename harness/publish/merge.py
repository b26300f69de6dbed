"""``harness merge DIR... --into DIR``: combine results folders written on different machines or by separate jobs
(SLURM array tasks, laptops) into one, cell by cell.

A cell is its sidecar (``cells/<org__model>/<rev>/<condition>/<Task>.json``) with every file beside it (mteb result
+ ``model_meta.json``, predictions, probe artifacts). Cells are compared by their key (model, revision, settings,
task data, exact prefixes, schema) and their scores (mteb's scores and the probes):

- same place, same key, same scores: one cell (de-duplicated);
- same place and different scores, or a different key (other task data, instructions or settings): a **conflict**.
  Every conflict is listed with its sources and nothing is written, unless ``prefer`` says which wins: ``newest``
  (latest ``created_at``) or ``first`` (the first folder holding it; cells already in ``--into`` come first).

Every file is checked against the sha256 its sidecar pins before anything is written, then copied with the atomic
writer, the sidecar last (a cell counts as done only once its sidecar is there). Aggregating the merged folder is
the caller's next step (``harness.api.merge``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.results import layout

Prefer = Literal["newest", "first"]
PREFER: tuple[Prefer, ...] = ("newest", "first")


@dataclass
class Cell:
    """One cell as found in one results folder."""

    source: Path
    sidecar: Path
    side: dict[str, Any]

    @property
    def place(self) -> tuple[str, str, str, str]:
        s = self.side
        return (s["model"], s["revision"], s["condition"], s["task"])

    @property
    def label(self) -> str:
        return f"{self.side['alias']}/{self.side['condition']}/{self.side['task']}"

    def files(self) -> list[tuple[str, str | None]]:
        """(path relative to the folder, pinned sha256 or None) of every file of the cell but the sidecar."""
        hashes = self.side.get("files_sha256") or {}
        out: list[tuple[str, str | None]] = [(self.side["result_file"], hashes.get("result"))]
        meta = str(Path(self.side["result_file"]).parent / "model_meta.json")
        if (self.source / meta).exists():
            out.append((meta, None))
        if self.side.get("predictions_file"):
            out.append((self.side["predictions_file"], hashes.get("predictions")))
        named = {rel for rel, _ in out}
        for p in sorted(self.sidecar.parent.glob(f"{self.side['task']}.*")):
            rel = str(p.relative_to(self.source))
            if p != self.sidecar and rel not in named:
                out.append((rel, None))  # probe artifacts
        return out

    @cached_property
    def scores(self) -> str:
        """A canonical text of the cell's scores: mteb's (timings and dates left out) and the probes'."""
        result = self.source / self.side["result_file"]
        try:
            data = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise HarnessError(f"{result}: unreadable mteb result ({e.__class__.__name__}); rerun the cell in "
                               f"{self.source}") from None
        return json.dumps({"scores": data.get("scores"), "probes": self.side.get("probes", [])}, sort_keys=True)

    def main_scores(self) -> str:
        data = json.loads((self.source / self.side["result_file"]).read_text(encoding="utf-8"))
        vals = [f"{e.get('hf_subset', 'default')} {e.get('main_score')}" for entries in data["scores"].values()
                for e in entries]
        return f"{self.side['main_score']} " + ", ".join(vals)


@dataclass
class Conflict:
    place: str
    why: str
    cells: list[Cell]

    def line(self) -> str:
        shown = " vs ".join(f"{c.sidecar} (created {c.side['created_at']}, {c.main_scores()})" for c in self.cells)
        return f"conflict: {self.place} ({self.why}): {shown}"


@dataclass
class Plan:
    into: Path
    copy: list[Cell] = field(default_factory=list)  # cells to write into `into`
    identical: int = 0  # cells found more than once with the same key and scores
    kept: int = 0  # cells already in `into` that stay as they are
    conflicts: list[Conflict] = field(default_factory=list)

    def line(self, sources: int, prefer: Prefer | None) -> str:
        resolved = f", {len(self.conflicts)} conflicts resolved (prefer {prefer})" if self.conflicts else ""
        return (f"merged {sources} folder(s) into {self.into}: {len(self.copy)} cell(s) copied, {self.kept} already "
                f"there, {self.identical} duplicate(s) skipped{resolved}")


def _cells(folder: Path) -> list[Cell]:
    out = []
    for path in layout.sidecar_files(folder):
        try:
            side = json.loads(path.read_text(encoding="utf-8"))
            lacking = [k for k in ("key", "model", "revision", "condition", "task", "result_file", "created_at")
                       if k not in side]
            if lacking:
                raise KeyError(", ".join(lacking))
        except (OSError, ValueError, KeyError) as e:
            raise HarnessError(f"{path}: not a readable cell sidecar ({e.__class__.__name__}: {e}); rerun the cell "
                               "or remove it") from None
        out.append(Cell(folder, path, side))
    return out


def _verify(cell: Cell) -> None:
    for rel, sha in cell.files():
        path = cell.source / rel
        if not path.exists():
            raise HarnessError(f"{cell.sidecar}: incomplete cell, {rel} is missing; rerun it in {cell.source}")
        if sha is not None and atomic.file_sha256(path) != sha:
            raise HarnessError(f"{path}: sha256 differs from its sidecar's (changed or corrupt); rerun the cell in "
                               f"{cell.source}")


def plan(sources: list[Path], into: Path, prefer: Prefer | None = None) -> Plan:
    """Decide what to copy; raise (one line) on a bad folder. Conflicts are returned, not raised."""
    if prefer is not None and prefer not in PREFER:
        raise HarnessError(f"--prefer {prefer}: choose one of {', '.join(PREFER)}")
    seen: set[Path] = set()
    for s in sources:
        if not s.is_dir():
            raise HarnessError(f"{s}: no such results folder")
        if s.resolve() == into.resolve():
            raise HarnessError(f"{s}: given as a source and as --into; the --into folder's cells are always included")
        if s.resolve() in seen:
            raise HarnessError(f"{s}: given twice")
        seen.add(s.resolve())
    existing = _cells(into) if into.is_dir() else []
    found: list[Cell] = list(existing)
    for s in sources:
        cells = _cells(s)
        if not cells:
            raise HarnessError(f"{s}: no cells to merge (cells/<org__model>/<revision>/<condition>/<Task>.json)")
        found += cells
    by_place: dict[tuple[str, str, str, str], list[Cell]] = {}
    for c in found:
        by_place.setdefault(c.place, []).append(c)
    result = Plan(into)
    for place, cells in sorted(by_place.items()):
        variants: list[Cell] = []
        for c in cells:
            if any(v.side["key"] == c.side["key"] and v.scores == c.scores for v in variants):
                result.identical += 1
            else:
                variants.append(c)
        chosen = variants[0]
        if len(variants) > 1:
            keys = {v.side["key"] for v in variants}
            why = "different cell keys: task data, instructions or model settings differ" if len(keys) > 1 \
                else "same cell key, different scores"
            result.conflicts.append(Conflict(f"{chosen.label} ({'/'.join(place[:2])})", why, variants))
            if prefer == "newest":
                chosen = max(variants, key=lambda v: v.side["created_at"])  # the first of equals
        if chosen.source == into:
            result.kept += 1
        else:
            result.copy.append(chosen)
    for c in result.copy:
        _verify(c)
    return result


def write(p: Plan) -> None:
    """Copy every chosen cell into ``p.into``: an existing cell there loses its sidecar first (it is no longer
    done), its other files are replaced or removed, and the new sidecar is written last."""
    for c in p.copy:
        target_sidecar = p.into / c.sidecar.relative_to(c.source)
        if target_sidecar.exists():
            old = Cell(p.into, target_sidecar, json.loads(target_sidecar.read_text(encoding="utf-8")))
            old_files = {rel for rel, _ in old.files()}
            target_sidecar.unlink()
            for rel in old_files - {rel for rel, _ in c.files()}:
                if not rel.endswith("model_meta.json"):
                    (p.into / rel).unlink(missing_ok=True)
        for rel, _ in c.files():
            atomic.write_bytes(p.into / rel, (c.source / rel).read_bytes())
        atomic.write_bytes(target_sidecar, c.sidecar.read_bytes())


def merge(sources: list[Path], into: Path, *, prefer: Prefer | None = None) -> Plan:
    """Plan, refuse on unresolved conflicts (nothing written), then copy. Returns the plan that was carried out."""
    p = plan(sources, into, prefer)
    if p.conflicts and prefer is None:
        raise MergeConflict(p)
    if p.copy:
        into.mkdir(parents=True, exist_ok=True)
        atomic.remove_orphans(into)
        write(p)
    return p


class MergeConflict(HarnessError):
    """Conflicting cells and no ``prefer``: ``lines()`` lists each with its sources; ``str()`` is the one line."""

    def __init__(self, p: Plan):
        self.plan = p
        n = len(p.conflicts)
        super().__init__(f"{n} conflicting cell(s) (listed above); nothing written to {p.into}; choose with "
                         "--prefer newest (latest created_at) or --prefer first (first folder given; cells already in "
                         "--into come first)")

    prefix = ""  # the conflicts are listed as they are, then the one error line

    def lines(self) -> list[str]:
        return [*(c.line() for c in self.plan.conflicts), f"error: {self}"]
