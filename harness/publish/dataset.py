"""``harness publish OUT``: a results folder → a folder that is a ready Hugging Face dataset repository.

```
OUT/README.md                                   the dataset card (card.py): configs, license, columns, models, …
OUT/data/leaderboard.parquet                    byte copies of the results folder's tables
OUT/data/deltas.parquet
OUT/data/predictions/<org__model>/<rev>/<condition>/<Task>.parquet   with --with-predictions
OUT/results/<org__model>/<rev>/experiments/condition_<c>/<Task>.json + model_meta.json   mteb's results tree
OUT/leaderboard.html                            the sortable page, when aggregate wrote one
```

Everything is checked first (:mod:`harness.publish.preflight`) and built in a staging folder beside ``OUT``, then
moved into place: a refused or failed publish leaves ``OUT`` as it was. ``OUT`` must be new, empty (a fresh clone
of a Hub repository counts: ``.git`` and ``.gitattributes`` are kept), or an earlier publish, whose managed entries
are replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.publish import card, preflight
from harness.results import layout, trust

MANAGED = ("README.md", "data", "results", "leaderboard.html")
KEPT = {".git", ".gitattributes", ".gitignore", ".huggingface", ".cache"}
PUSH = "hf upload USER/NAME {out} . --repo-type dataset"
LEADERBOARD_PAGE = "leaderboard.html"


@dataclass
class Published:
    out: Path
    files: int
    bytes: int
    seconds: float
    rows: dict[str, int]

    def line(self) -> str:
        tables = ", ".join(f"{k} {v:,} rows" for k, v in self.rows.items())
        return (f"published {self.out}: {self.files} files, {self.bytes / 2**20:.1f} MiB ({tables}) in "
                f"{self.seconds:.1f}s\npush it: {PUSH.format(out=self.out)}")


def _check_out(out: Path, results_dir: Path) -> None:
    o, r = out.resolve(), results_dir.resolve()
    if o == r or o in r.parents:
        raise HarnessError(f"{out}: would hold the results folder {results_dir}; publish into another folder")
    if out.exists() and not out.is_dir():
        raise HarnessError(f"{out}: exists and is not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in KEPT)
        readme = out / "README.md"
        ours = readme.exists() and card.MARKER in readme.read_text(encoding="utf-8", errors="replace")
        if foreign and not ours:
            raise HarnessError(f"{out}: not empty ({', '.join(foreign[:3])}{'…' if len(foreign) > 3 else ''}) and "
                               "not written by `harness publish`; choose a new or empty folder")


def _copy(src: Path, dst: Path, data: bytes | None = None) -> int:
    """Write ``data`` (already checked against its pin), or the bytes of ``src`` (a table the preflight
    checked, opened without following links), to ``dst``; the number of bytes."""
    if data is None:
        data = trust.read(src, where=src, field="(the file itself)", kind="artifact")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)
    return len(data)


def prediction_target(predictions_file: str) -> str:
    """``cells/<m>/<rev>/<c>/<Task>.predictions.parquet`` → ``data/predictions/<m>/<rev>/<c>/<Task>.parquet``."""
    parts = Path(predictions_file).parts
    name = parts[-1].removesuffix(layout.PREDICTIONS_SUFFIX) + ".parquet"
    return str(Path("data", "predictions", *parts[1:-1], name))


def _stage(checked: preflight.Checked, staging: Path, with_predictions: bool) -> card.Contents:
    """Copy into ``staging`` only the files the cells pin (or, for cells written before pins, that were hashed as
    regular files inside the folder), each read without following links and checked against its sha256."""
    src = checked.results_dir
    _copy(src / preflight.LEADERBOARD, staging / "data" / "leaderboard.parquet")
    _copy(src / preflight.DELTAS, staging / "data" / "deltas.parquet")
    results, predictions, languages = [], [], set()
    meta: dict[tuple[str, str], dict[str, Any]] = {}
    for path, side in checked.sidecars:
        by_rel = {f.rel: f for f in checked.files[path]}

        def pinned(rel: str, field: str, by_rel: dict[str, trust.CellFile] = by_rel, path: Path = path) -> bytes:
            f = by_rel[rel]
            return trust.read(src / rel, where=path, field=field, sha256=f.sha256, kind=f.kind)

        rel = side["result_file"]
        data = pinned(rel, "result_file")
        _copy(src / rel, staging / rel, data)
        languages |= _languages(src / rel, data)
        meta_rel = str(Path(rel).parent / trust.MODEL_META)
        if meta_rel in by_rel and meta_rel not in results:
            meta_bytes = pinned(meta_rel, "result_file (its model_meta.json)")
            _copy(src / meta_rel, staging / meta_rel, meta_bytes)
            results.append(meta_rel)
            _model_meta(meta, meta_bytes)
        results.append(rel)
        if with_predictions and side.get("predictions_file"):
            target = prediction_target(side["predictions_file"])
            _copy(src / side["predictions_file"], staging / target, pinned(side["predictions_file"],
                                                                           "predictions_file"))
            predictions.append(target)
    if (src / LEADERBOARD_PAGE).exists():
        trust.checked(src, LEADERBOARD_PAGE, where=src, field=LEADERBOARD_PAGE, kind="artifact")
        _copy(src / LEADERBOARD_PAGE, staging / LEADERBOARD_PAGE)
    sides = [s for _, s in checked.sidecars]
    return card.Contents(staging, checked.board, checked.deltas, sides, predictions, sorted(results),
                         sorted(languages), meta)


def _model_meta(out: dict[tuple[str, str], dict[str, Any]], data: bytes) -> None:
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return
    if isinstance(meta, dict):
        out.setdefault((str(meta.get("name")), str(meta.get("revision"))), meta)


def _languages(result: Path, data: bytes) -> set[str]:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HarnessError(f"{result}: unreadable mteb result; rerun the cell") from None
    scores = body.get("scores") if isinstance(body, dict) else None
    return {card.iso_language(code) for entries in (scores.values() if isinstance(scores, dict) else [])
            if isinstance(entries, list) for e in entries if isinstance(e, dict)
            for code in e.get("languages", []) if isinstance(code, str)}


def _move_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    moved: list[str] = []
    try:
        for name in MANAGED:
            if (out / name).exists():
                os.rename(out / name, trash / name)
                moved.append(name)
            if (staging / name).exists():
                os.rename(staging / name, out / name)
    except OSError:
        for name in moved:  # put the earlier publish back as it was
            new = out / name
            if new.is_dir():
                shutil.rmtree(new)
            elif new.exists():
                new.unlink()
            os.rename(trash / name, new)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def publish(results_dir: Path, out: Path, *, with_predictions: bool = False) -> Published:
    """Check ``results_dir`` (nothing stale, every interval present), then write ``out`` (see the module doc)."""
    t0 = time.perf_counter()
    checked = preflight.check(results_dir)
    _check_out(out, results_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.publish-", dir=out.parent))
        staging.chmod(0o755)  # mkdtemp makes 0700; the published folder is an ordinary one
    except OSError as e:
        raise HarnessError(f"{out.parent}: cannot write here ({e.strerror or e})") from None
    try:
        contents = _stage(checked, staging, with_predictions)
        (staging / "README.md").write_text(card.render(contents), encoding="utf-8")
        _move_into_place(staging, out)
    except OSError as e:
        raise HarnessError(f"{out}: publish failed ({e.strerror or e}); {out} is unchanged") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = [p for name in MANAGED for p in ([out / name] if (out / name).is_file() else (out / name).rglob("*"))
             if p.is_file()]
    rows = {"leaderboard": len(contents.board), "deltas": len(contents.deltas)}
    return Published(out, len(files), sum(p.stat().st_size for p in files), time.perf_counter() - t0, rows)
