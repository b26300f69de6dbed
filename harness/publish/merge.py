"""``harness merge DIR... --into DIR``: combine results folders written on different machines or by separate jobs
(SLURM array tasks, laptops) into one, cell by cell.

A cell is its sidecar (``cells/<org__model>/<rev>/<condition>/<Task>.json``) with the files it pins (mteb result
+ ``model_meta.json``, predictions, probe artifacts). Cells are compared by their key (model, revision, settings,
task data, exact prefixes, schema) and their scores (mteb's scores and the probes):

- same place, same key, same scores: one cell (de-duplicated);
- same place and different scores, or a different key (other task data, instructions or settings): a **conflict**.
  Every conflict is listed with its sources and nothing is written, unless ``prefer`` says which wins: ``newest``
  (latest ``created_at``) or ``first`` (the first folder holding it; cells already in ``--into`` come first).

Every folder is read through :mod:`harness.results.trust`: a folder holding a symbolic link is refused, every path
of a sidecar must stay inside its folder and name a regular file in the cell's own places, sizes are bounded, and
only the files a sidecar pins (sha256) are copied, each checked against its pin before anything is written and
again as it is copied with the atomic writer, the sidecar last (a cell counts as done only once its sidecar is
there). A refusal is one line naming the file and the field, and nothing is written. Aggregating the merged folder
is the caller's next step (``harness.api.merge``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.results import layout, trust

Prefer = Literal["newest", "first"]
PREFER: tuple[Prefer, ...] = ("newest", "first")


@dataclass
class Cell:
    """One cell as found in one results folder: its sidecar, already checked (:func:`harness.results.trust.sidecar`),
    and every file of it with its sha256 (:func:`harness.results.trust.cell_files`)."""

    source: Path
    sidecar: Path
    side: dict[str, Any]
    pinned: list[trust.CellFile] = field(default_factory=list)

    @property
    def place(self) -> tuple[str, str, str, str]:
        s = self.side
        return (s["model"], s["revision"], s["condition"], s["task"])

    @property
    def label(self) -> str:
        return f"{self.side.get('alias') or self.side['model']}/{self.side['condition']}/{self.side['task']}"

    @property
    def unpinned(self) -> bool:
        """Written before every file was pinned: the hashes were computed now from the source."""
        return any(not f.pinned for f in self.pinned)

    def files(self) -> list[tuple[str, str]]:
        """(path relative to the folder, sha256) of every file of the cell but the sidecar."""
        return [(f.rel, f.sha256) for f in self.pinned]

    def read(self, rel: str) -> bytes:
        """The bytes of one of the cell's files, opened without following links and checked against its pin."""
        f = next(f for f in self.pinned if f.rel == rel)
        return trust.read(self.source / rel, where=self.sidecar, field=rel, sha256=f.sha256, kind=f.kind)

    def sidecar_bytes(self) -> bytes:
        """The sidecar as it is copied: the source's bytes, with the computed pins added to a cell that had none."""
        raw = trust.read(self.sidecar, where=self.sidecar, field="(the sidecar itself)", kind="sidecar")
        if trust.PINS_FIELD in self.side:
            return raw
        side = {**self.side, trust.PINS_FIELD: dict(self.files())}
        return json.dumps(side, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")

    @cached_property
    def _result(self) -> dict[str, Any]:
        path = self.source / self.side["result_file"]
        try:
            data = json.loads(self.read(self.side["result_file"]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise HarnessError(f"{path}: unreadable mteb result ({e.__class__.__name__}); rerun the cell in "
                               f"{self.source}") from None
        if not isinstance(data, dict):
            raise trust.Refused(f"{path}: not an mteb result (a JSON {type(data).__name__}, expected an object)")
        return data

    @cached_property
    def scores(self) -> str:
        """A canonical text of the cell's scores: mteb's (timings and dates left out) and the probes'."""
        return json.dumps({"scores": self._result.get("scores"), "probes": self.side.get("probes", [])},
                          sort_keys=True)

    def main_scores(self) -> str:
        scores = self._result.get("scores")
        vals = [f"{e.get('hf_subset', 'default')} {e.get('main_score')}"
                for entries in (scores.values() if isinstance(scores, dict) else []) if isinstance(entries, list)
                for e in entries if isinstance(e, dict)]
        return f"{self.side.get('main_score')} " + ", ".join(vals)


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
    left_out: int = 0  # files beside pinned cells that their sidecars do not pin (never copied)
    existing: dict[str, Cell] = field(default_factory=dict)  # cells already in `into`, by sidecar path

    def line(self, sources: int, prefer: Prefer | None) -> str:
        resolved = f", {len(self.conflicts)} conflicts resolved (prefer {prefer})" if self.conflicts else ""
        old = [c for c in self.copy if c.unpinned]
        unpinned = (f"; {len(old)} cell(s) written before every file was pinned: their sha256 were computed now from "
                    f"the source (e.g. {old[0].sidecar}), which proves only that nothing changed during the merge"
                    if old else "")
        left = f"; {self.left_out} unpinned file(s) beside the cells left out" if self.left_out else ""
        return (f"merged {sources} folder(s) into {self.into}: {len(self.copy)} cell(s) copied, {self.kept} already "
                f"there, {self.identical} duplicate(s) skipped{resolved}{unpinned}{left}")


def _cells(folder: Path) -> tuple[list[Cell], int]:
    """The cells of ``folder``, each checked; and how many files beside pinned cells their pins leave out."""
    out, left_out = [], 0
    for path in layout.sidecar_files(folder):
        side = trust.sidecar(folder, path)
        cell = Cell(folder, path, side, trust.cell_files(folder, path, side))
        if trust.PINS_FIELD in side:
            own = {f.rel for f in cell.pinned}
            left_out += sum(1 for p in path.parent.glob(f"{side['task']}.*")
                            if p != path and str(p.relative_to(folder)) not in own)
        out.append(cell)
    return out, left_out


def _check_into(into: Path) -> None:
    """``--into`` is a folder or can become one: not a file, not below a file."""
    if into.exists() and not into.is_dir():
        raise HarnessError(f"--into {into}: exists and is not a folder; give a results folder (new or existing)")
    for parent in into.parents:
        if parent.exists():
            if not parent.is_dir():
                raise HarnessError(f"--into {into}: {parent} is a file, so no folder can be made below it")
            return


def _check_space(into: Path, cells: list[Cell]) -> None:
    need = sum((c.source / rel).stat().st_size for c in cells for rel, _ in c.files())
    where = next(p for p in (into, *into.parents) if p.exists())
    free = shutil.disk_usage(where).free
    if need > free:
        raise HarnessError(f"--into {into}: the merge needs {need:,} bytes and {where} has {free:,} free; nothing "
                           "merged")


def plan(sources: list[Path], into: Path, prefer: Prefer | None = None) -> Plan:
    """Decide what to copy; raise (one line) on a bad folder. Conflicts are returned, not raised."""
    if prefer is not None and prefer not in PREFER:
        raise HarnessError(f"--prefer {prefer}: choose one of {', '.join(PREFER)}")
    _check_into(into)
    seen: set[Path] = set()
    for s in sources:
        if not s.is_dir():
            raise HarnessError(f"{s}: no such results folder")
        if s.resolve() == into.resolve():
            raise HarnessError(f"{s}: given as a source and as --into; the --into folder's cells are always included")
        if s.resolve() in seen:
            raise HarnessError(f"{s}: given twice")
        seen.add(s.resolve())
    try:
        return _plan(sources, into, prefer)
    except trust.Refused as e:
        raise trust.Refused(f"{e}; nothing merged") from None


def _plan(sources: list[Path], into: Path, prefer: Prefer | None) -> Plan:
    for folder in (*sources, *([into] if into.is_dir() else [])):
        trust.refuse_symlinks(folder, "merge")
    existing, _ = _cells(into) if into.is_dir() else ([], 0)
    found: list[Cell] = list(existing)
    left_out = 0
    for s in sources:
        cells, left = _cells(s)
        if not cells:
            raise HarnessError(f"{s}: no cells to merge (cells/<org__model>/<revision>/<condition>/<Task>.json)")
        found += cells
        left_out += left
    by_place: dict[tuple[str, str, str, str], list[Cell]] = {}
    for c in found:
        by_place.setdefault(c.place, []).append(c)
    result = Plan(into, left_out=left_out, existing={str(c.sidecar.relative_to(into)): c for c in existing})
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
        for rel, _ in c.files():
            c.read(rel)  # every byte matches its pin before anything is written
    _check_space(into, result.copy)
    return result


def write(p: Plan) -> None:
    """Copy every chosen cell into ``p.into``: an existing cell there loses its sidecar first (it is no longer
    done), its other files are replaced or removed, and the new sidecar is written last. Only pinned files are
    copied, each re-read and checked against its pin as it is written."""
    for c in p.copy:
        rel_sidecar = str(c.sidecar.relative_to(c.source))
        target_sidecar = p.into / rel_sidecar
        old = p.existing.get(rel_sidecar)
        if old is not None:
            target_sidecar.unlink()
            for rel in {rel for rel, _ in old.files()} - {rel for rel, _ in c.files()}:
                if not rel.endswith(trust.MODEL_META):
                    (p.into / rel).unlink(missing_ok=True)
        for rel, _ in c.files():
            atomic.write_bytes(p.into / rel, c.read(rel))
        atomic.write_bytes(target_sidecar, c.sidecar_bytes())


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
