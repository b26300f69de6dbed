"""All-or-nothing outputs for ``harness aggregate``: every table, the left-out list, the plots and the report are
written into a staging folder inside the results folder, and swapped in only when all of them are complete.

``with staged(results_dir) as stage:`` yields ``<results>/.aggregate-staging``; when the block finishes, each
output in it replaces the one in the results folder (the old ones are first moved into ``.aggregate-previous``,
then the new ones renamed in: renames within one folder, no copying), and outputs of an earlier aggregate that
this one did not write (a plot of a model no longer there, the old ``stale-cells.json``) are removed. When the
block fails (a full disk, a bug, Ctrl-C), the staging folder is deleted and the results folder is exactly as
before: a :class:`HarnessError` says so. A kill in the middle of the swap itself (a few renames) can leave a mix;
the next aggregate removes both helper folders and rebuilds every output.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.core import faults
from harness.core.errors import HarnessError
from harness.results import layout


class NothingToWrite(HarnessError):
    """Raised inside :func:`staged` when there is nothing to write (e.g. no cells to aggregate): nothing is."""


STAGE = ".aggregate-staging"
PREVIOUS = ".aggregate-previous"
# Everything aggregate writes (files and folders), relative to the results folder: what a swap replaces.
OUTPUTS = ("leaderboard.parquet", "deltas.parquet", "family.parquet", "paraphrase.parquet", "ranks.parquet",
           "rank_agreement.parquet", "geometry.parquet", "robust_score.parquet", layout.LEFT_OUT_CELLS,
           layout.STALE_CELLS, "plots", "report.html", "report.md", "report_files", "leaderboard.html")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _swap(stage: Path, results_dir: Path) -> None:
    previous = results_dir / PREVIOUS
    _remove(previous)
    previous.mkdir()
    moved: list[str] = []
    placed: list[str] = []
    try:
        for name in OUTPUTS:
            if (results_dir / name).exists() or (results_dir / name).is_symlink():
                (results_dir / name).rename(previous / name)
                moved.append(name)
        for name in OUTPUTS:
            if (stage / name).exists():
                (stage / name).rename(results_dir / name)
                placed.append(name)
    except BaseException:  # put the old set back whole
        for name in placed:
            (results_dir / name).rename(stage / name)
        for name in moved:
            (previous / name).rename(results_dir / name)
        raise
    finally:
        _remove(previous)


@contextmanager
def staged(results_dir: Path) -> Iterator[Path]:
    """A fresh staging folder for every output; swapped in when the block ends, deleted when it fails."""
    stage = results_dir / STAGE
    _remove(stage)
    _remove(results_dir / PREVIOUS)  # left by a kill during an earlier swap
    try:
        stage.mkdir()
    except OSError as e:
        raise HarnessError(f"{results_dir}: cannot create {STAGE} ({e.strerror or e}); nothing was written"
                           ) from None
    try:
        yield stage
        faults.checkpoint("aggregate-swap")
        _swap(stage, results_dir)
    except NothingToWrite:
        raise
    except HarnessError as e:
        if type(e) is not HarnessError:  # several problems, an interrupt: as they are
            raise
        raise HarnessError(f"{e}; the previous tables and report in {results_dir} are unchanged") from None
    except OSError as e:
        raise HarnessError(f"{results_dir}: aggregate failed while writing its outputs ({e.strerror or e}); "
                           "the previous tables and report are unchanged") from None
    finally:
        _remove(stage)
