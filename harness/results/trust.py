"""Reading a results folder this process did not write (``harness merge``, ``harness publish``, ``verify``, and
``aggregate`` of copied or merged cells): every path that comes from a file is checked before anything opens it,
every file of a cell is read only against the sha256 its sidecar pins, and sizes are bounded.

- :func:`checked`: a path from a file is accepted only if it is a non-empty relative string with no ``..`` part,
  no component of it (from the folder down) is a symbolic link, it names a regular file, its real path lies inside
  the folder and it is no larger than its kind's limit (:data:`MAX_BYTES`);
- :func:`sidecar`: a cell sidecar's fields that readers rely on have the right types, and its name fields match
  where it lies (``cells/<org__model>/<revision>/<condition>/<Task>.json``);
- :func:`cell_files`: every file of a cell with its sha256 — the sidecar's pins (``cell_files``, written since pins
  cover every file), or, for cells written before, computed now from the source (``pinned=False``); each file lies in
  the cell's own places (the mteb results tree of its model/revision/condition, or beside its sidecar);
- :func:`read`: a file's bytes, opened without following links, checked against its pin;
- :func:`refuse_symlinks`: a folder that contains any symbolic link is refused as a whole (merge and publish).

Every refusal is a :class:`Refused` error: one line naming the file and the field. Nothing in a results folder is
ever executed: these readers parse JSON and parquet and copy bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.core.errors import HarnessError
from harness.results import layout

MiB = 1 << 20
# The largest file of each kind a cell of the bundled grid writes is far below these (sidecar ~11 KiB, mteb result
# ~11 KiB, model_meta ~1 KiB, predictions ~70 KiB, cosines ~200 KiB; NOTES.md, issue 24); the limits leave room for
# custom tasks 100× larger, and stop a crafted folder from filling the disk.
MAX_BYTES = {"sidecar": 1 * MiB, "result": 16 * MiB, "model_meta": 1 * MiB, "predictions": 256 * MiB,
             "artifact": 256 * MiB}
FILES_PER_CELL = 64  # a real cell has 3-10 (result, model_meta, predictions, probe artifacts per subset × split)
MODEL_META = "model_meta.json"
PINS_FIELD = "cell_files"  # {path relative to the results folder: sha256} of every file of the cell but the sidecar


class Refused(HarnessError):
    """A file of a results folder that is not read: a path that leaves the folder, a link, a wrong type, too big."""


def refuse_symlinks(folder: Path, verb: str) -> None:
    """Raise :class:`Refused` naming the first symbolic link anywhere below ``folder`` (not followed)."""
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(top, name)
            if path.is_symlink():
                raise Refused(f"{path}: a symbolic link inside {folder}; {verb} refuses folders that contain links "
                              "(replace it with a copy of what it should hold, or remove it)")


def _kind(rel: str, side: dict[str, Any]) -> str:
    if rel == side.get("result_file"):
        return "result"
    if rel.endswith("/" + MODEL_META):
        return MODEL_META.removesuffix(".json")
    if rel.endswith(layout.PREDICTIONS_SUFFIX):
        return "predictions"
    return "artifact"


def checked(folder: Path, rel: object, *, where: Path, field: str, kind: str = "artifact") -> Path:
    """``folder / rel`` when ``rel`` (read from ``where``'s ``field``) is a safe path to a regular file inside
    ``folder`` within its kind's size limit; else :class:`Refused`."""

    def no(why: str) -> Refused:
        return Refused(f"{where}: field '{field}': {why}")

    if not isinstance(rel, str) or not rel:
        raise no(f"expected a relative path (a non-empty string), got {type(rel).__name__} {str(rel)[:40]!r}")
    if "\x00" in rel or "\\" in rel:
        raise no(f"{rel[:80]!r} holds a NUL or a backslash")
    p = PurePosixPath(rel)
    if p.is_absolute():
        raise no(f"{rel}: an absolute path; a cell's paths are relative to its results folder")
    if ".." in p.parts:
        raise no(f"{rel}: path leaves the results folder ('..')")
    cur, st = folder, None
    for part in p.parts:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            raise no(f"{rel} is missing (incomplete cell)") from None
        except OSError as e:
            raise no(f"{rel}: unreadable ({e.strerror or e})") from None
        if stat.S_ISLNK(st.st_mode):
            raise no(f"{cur} is a symbolic link; links are not followed")
    if st is None or not stat.S_ISREG(st.st_mode):
        raise no(f"{rel} is not a regular file")
    real, root = os.path.realpath(cur), os.path.realpath(folder)
    if os.path.commonpath([real, root]) != root:
        raise no(f"{rel}: path leaves the results folder")
    limit = MAX_BYTES.get(kind, MAX_BYTES["artifact"])
    if st.st_size > limit:
        raise no(f"{rel} is {st.st_size:,} bytes, over the {limit:,}-byte limit for a {kind} file")
    return cur


def read(path: Path, *, where: Path, field: str, sha256: str | None = None, kind: str = "artifact") -> bytes:
    """The bytes of ``path`` (already :func:`checked`), opened without following a link; they must match ``sha256``
    when one is given."""
    limit = MAX_BYTES.get(kind, MAX_BYTES["artifact"])
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise Refused(f"{where}: field '{field}': {path}: cannot open ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise Refused(f"{where}: field '{field}': {path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{where}: field '{field}': {path} grew over the {limit:,}-byte limit for a {kind} file")
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise Refused(f"{path}: sha256 differs from its sidecar's pin (changed or corrupt); rerun the cell "
                      f"({where.name}) where it was made")
    return data


# -------------------------------------------------------------------------------------------------- sidecars
class _Sidecar(BaseModel):
    """The fields of a cell sidecar that merge, publish and aggregate read, with their types (others are kept)."""

    model_config = ConfigDict(extra="allow", strict=True)

    key: str
    model: str
    revision: str
    condition: str
    task: str
    result_file: str
    created_at: str
    alias: str | None = None
    task_type: str | None = None
    main_score: str | None = None
    prompts_sha256: str | None = None
    task_data_sha256: str | None = None
    predictions_file: str | None = None
    prompts: dict[str, str] | None = None
    model_settings: dict[str, Any] | None = None
    n_items: dict[str, dict[str, int]] | None = None
    probes: list[dict[str, Any]] | None = None
    files_sha256: dict[str, str] | None = None
    cell_files: dict[str, str] | None = None


def sidecar(folder: Path, path: Path) -> dict[str, Any]:
    """A cell sidecar of ``folder``, read and checked: a regular file within the size limit, JSON whose fields
    have the types readers rely on, its name fields matching where it lies. Else :class:`Refused`."""
    import json

    rel = str(path.relative_to(folder))
    checked(folder, rel, where=path, field="(the sidecar itself)", kind="sidecar")
    raw = read(path, where=path, field="(the sidecar itself)", kind="sidecar")
    try:
        side = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(f"{path}: not a readable cell sidecar ({e.__class__.__name__}); rerun the cell or remove "
                      "it") from None
    if not isinstance(side, dict):
        raise Refused(f"{path}: not a readable cell sidecar (a JSON {type(side).__name__}, expected an object)")
    try:
        _Sidecar.model_validate(side)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise Refused(f"{path}: field '{loc}': {err['msg']}") from None
    parts = PurePosixPath(rel).parts  # cells/<org__model>/<revision>/<condition>/<Task>.json
    expected = {"model": layout.model_path(side["model"]), "revision": side["revision"],
                "condition": side["condition"], "task": f"{side['task']}.json"}
    for (name, want), got in zip(expected.items(), parts[1:], strict=True):
        if want != got or side[name] in (".", "..") or (name != "model" and "/" in side[name]):
            raise Refused(f"{path}: field '{name}': {side[name]!r} does not match where the sidecar lies ({rel})")
    return side


# -------------------------------------------------------------------------------------------------- cell files
@dataclass(frozen=True)
class CellFile:
    rel: str  # relative to the results folder
    sha256: str
    kind: str  # result | model_meta | predictions | artifact
    pinned: bool  # False: the cell predates pins; the hash was computed now from the source


def _own_place(rel: str, sidecar_rel: PurePosixPath) -> bool:
    """A cell's files lie in the mteb tree of its model/revision/condition or beside its sidecar (``<Task>.*``)."""
    _, model, revision, condition, name = sidecar_rel.parts
    p = PurePosixPath(rel)
    if p.parts[:1] == (layout.MTEB_DIR,):
        return (p.parts[1:-1] == (model, revision, "experiments", layout.experiment(condition))
                and p.suffix == ".json")
    task = name.removesuffix(".json")
    return p.parent == sidecar_rel.parent and p.name.startswith(f"{task}.") and p.name != name


def cell_files(folder: Path, path: Path, side: dict[str, Any]) -> list[CellFile]:
    """Every file of the cell whose (already :func:`sidecar`-checked) sidecar is ``path``, each :func:`checked`,
    with its pin; a cell written before pins gets hashes computed now from its regular files inside ``folder``."""
    sidecar_rel = PurePosixPath(path.relative_to(folder))
    roles = side.get("files_sha256") or {}
    named = {"result_file": side["result_file"],
             **({"predictions_file": side["predictions_file"]} if side.get("predictions_file") else {})}
    pins: dict[str, str] | None = side.get(PINS_FIELD)
    out: list[CellFile] = []
    if pins is not None:
        if len(pins) > FILES_PER_CELL:
            raise Refused(f"{path}: field '{PINS_FIELD}': {len(pins)} files, over the {FILES_PER_CELL} a cell may hold")
        for field_name, rel in named.items():
            if rel not in pins:
                raise Refused(f"{path}: field '{field_name}': {rel} is not pinned in '{PINS_FIELD}'")
        for role, field_name in (("result", "result_file"), ("predictions", "predictions_file")):
            if role in roles and field_name in named and roles[role] != pins[named[field_name]]:
                raise Refused(f"{path}: field 'files_sha256.{role}': disagrees with '{PINS_FIELD}'")
        fields = {rel: field_name for field_name, rel in named.items()}  # a named path is refused by its field
        for rel, sha in sorted(pins.items(), key=lambda kv: (kv[0] not in fields, kv[0])):
            out.append(_file(folder, path, sidecar_rel, side, rel, fields.get(rel, f"{PINS_FIELD}[{rel!r}]"), sha))
        return sorted(out, key=lambda f: f.rel)
    wanted: list[tuple[str, str, str | None]] = [
        ("result_file", side["result_file"], roles.get("result"))]
    meta = str(PurePosixPath(side["result_file"]).parent / MODEL_META)
    if os.path.lexists(folder / meta):
        wanted.append(("result_file (its model_meta.json)", meta, None))
    if "predictions_file" in named:
        wanted.append(("predictions_file", named["predictions_file"], roles.get("predictions")))
    seen = {rel for _, rel, _ in wanted}
    beside = sorted(p for p in path.parent.glob(f"{side['task']}.*") if p != path)
    if len(beside) + len(wanted) > FILES_PER_CELL:
        raise Refused(f"{path}: {len(beside)} files beside the sidecar, over the {FILES_PER_CELL} a cell may hold")
    for p in beside:
        rel = str(p.relative_to(folder))
        if rel not in seen:
            wanted.append(("(a file beside the sidecar)", rel, None))
    for wanted_field, wanted_rel, wanted_sha in wanted:
        out.append(_file(folder, path, sidecar_rel, side, wanted_rel, wanted_field, wanted_sha))
    return out


def _file(folder: Path, path: Path, sidecar_rel: PurePosixPath, side: dict[str, Any], rel: str, field: str,
          sha: str | None) -> CellFile:
    kind = _kind(rel, side)
    full = checked(folder, rel, where=path, field=field, kind=kind)
    if not _own_place(rel, sidecar_rel):
        raise Refused(f"{path}: field '{field}': {rel} is not one of this cell's places (results/<model>/<revision>/"
                      f"experiments/condition_<c>/ or beside the sidecar)")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise Refused(f"{path}: field '{field}': the pin {str(sha)[:70]!r} is not a sha256 hex digest")
    if sha is None:
        sha = hashlib.sha256(read(full, where=path, field=field, kind=kind)).hexdigest()
        return CellFile(rel, sha, kind, pinned=False)
    return CellFile(rel, sha, kind, pinned=True)


def cell_path(folder: Path, side: dict[str, Any], field: str, *, where: Path | None = None) -> Path:
    """The file a sidecar's path field (``result_file``, ``predictions_file``) names, :func:`checked`; for the
    readers of cells (aggregate) that do not copy them. A missing file is returned as it is (those readers say
    what is missing in their own words), after the path itself passed the checks."""
    where = where or folder / layout.CELLS_DIR
    rel = side.get(field)
    if isinstance(rel, str) and rel and not os.path.lexists(folder / rel):
        p = PurePosixPath(rel)
        if not p.is_absolute() and ".." not in p.parts and "\x00" not in rel and "\\" not in rel:
            return folder / rel
    return checked(folder, rel, where=where, field=field, kind=_kind(str(rel), side))


def pins(files: list[tuple[str, bytes]]) -> dict[str, str]:
    """``{relative path: sha256}`` of a cell's files (the writer's :data:`PINS_FIELD`)."""
    return {rel: hashlib.sha256(data).hexdigest() for rel, data in files}
