"""A quiet console while cells run: what the libraries say goes to a log file under the results folder.

mteb, datasets, transformers, sentence-transformers and torch write progress bars (``Searching corpus chunks``,
``Standardizing text corpus format``, ``Matching sentences`` …), log records and warnings (a torch
``UserWarning`` on every bitext cell) to the console, where they tear the harness's own display apart. Inside
:func:`library_output` (unless ``verbose``):

- their log records (INFO and up) and Python warnings (``logging.captureWarnings``) go to
  ``<results>/logs/run-<timestamp>.log``; the console keeps the harness's own warnings and errors;
- ``datasets`` progress bars are switched off with its own setting (``HF_DATASETS_DISABLE_PROGRESS_BARS`` /
  ``disable_progress_bars``); mteb's retrieval search bar with its own (``show_progress_bar=False`` in the
  encode arguments, set by the cell);
- whatever else is written to ``sys.stderr`` (mteb's bitext bars, which have no setting) lands in the log file.

The harness's display (:class:`harness.run.progress.Progress`) writes to the real console, which the context
yields. ``verbose`` changes nothing: everything is shown as the libraries print it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

LIBRARIES = ("mteb", "datasets", "transformers", "sentence_transformers", "torch", "huggingface_hub", "py.warnings",
             "urllib3", "filelock")
LOGS_DIR = "logs"


def log_path(results_dir: Path) -> Path:
    return results_dir / LOGS_DIR / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


class _OnlyHarness(logging.Filter):
    """On the console: the harness's own warnings and errors, nothing from the libraries."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] == "harness" and record.levelno >= logging.WARNING


@contextlib.contextmanager
def library_output(path: Path | None, *, verbose: bool = False) -> Iterator[TextIO]:
    """Route library output to ``path`` while the block runs; yields the console stream for the harness's own
    display. With ``verbose`` or no ``path`` nothing is rerouted."""
    console = sys.stderr
    if verbose or path is None:
        yield console
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    root_level = root.level
    handler_filter = _OnlyHarness()
    with open(path, "a", encoding="utf-8", buffering=1) as log_file:
        file_handler = logging.StreamHandler(log_file)
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        console_handlers = list(root.handlers)
        own_console = None
        if not console_handlers:  # nothing configured (the Python API): keep the harness's warnings visible
            own_console = logging.StreamHandler(console)
            own_console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
            root.addHandler(own_console)
            console_handlers = [own_console]
        for h in console_handlers:
            h.addFilter(handler_filter)
        root.addHandler(file_handler)
        root.setLevel(min(root_level or logging.WARNING, logging.INFO))
        for name in LIBRARIES:
            logging.getLogger(name).setLevel(logging.INFO)
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # read when datasets is imported
        if "datasets" in sys.modules:
            import datasets

            datasets.disable_progress_bars()
        logging.captureWarnings(True)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stderr(log_file):
                warnings.simplefilter("default")
                yield console
        finally:
            logging.captureWarnings(False)
            root.removeHandler(file_handler)
            if own_console is not None:
                root.removeHandler(own_console)
            root.setLevel(root_level)
            for h in console_handlers:
                h.removeFilter(handler_filter)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
