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
from typing import Any, TextIO

LIBRARIES = ("mteb", "datasets", "transformers", "sentence_transformers", "torch", "huggingface_hub", "py.warnings",
             "urllib3", "filelock", "absl", "tensorflow", "jax")
LOGS_DIR = "logs"


def log_path(results_dir: Path) -> Path:
    return results_dir / LOGS_DIR / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


def _console_handlers(streams: tuple[object, ...]) -> list[tuple[logging.Logger, logging.StreamHandler[Any]]]:
    """The libraries' own console handlers: torch installs a ``StreamHandler`` on its loggers (``I1202 …
    compile_threads set to 2``, glog-style) that writes to the terminal whatever the root logger does."""
    out: list[tuple[logging.Logger, logging.StreamHandler[Any]]] = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name.split(".")[0] not in LIBRARIES:
            continue
        for h in logger.handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) and any(
                    h.stream is x for x in streams):
                out.append((logger, h))
    return out


@contextlib.contextmanager
def _fd_to(log_file: TextIO) -> Iterator[TextIO | None]:
    """Point file descriptor 2 at the log file (what C/C++ libraries write there directly: absl/glog lines,
    native warnings), yielding a stream on the terminal's descriptor for the harness's own display; yields None
    (and changes nothing) when stderr is not the process's own descriptor 2 (tests capturing it, notebooks)."""
    try:
        own = sys.stderr is sys.__stderr__ and sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        own = False
    if not own:
        yield None
        return
    sys.stderr.flush()
    with open(os.dup(2), "w", encoding=sys.stderr.encoding or "utf-8", errors="replace", buffering=1) as screen:
        os.dup2(log_file.fileno(), 2)
        try:
            yield screen
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(screen.fileno(), 2)


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
    with open(path, "a", encoding="utf-8", buffering=1) as log_file, _fd_to(log_file) as screen:
        terminals = (console, sys.__stderr__, sys.__stdout__, sys.stdout)
        muted = _console_handlers(terminals)
        propagate = {logger: logger.propagate for logger, _ in muted}
        for logger, lh in muted:
            logger.removeHandler(lh)
            logger.propagate = True  # torch's loggers do not propagate: their records would be lost, not logged
        console = screen or console
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
        moved = []  # root console handlers on descriptor 2, which now is the log file: onto the terminal's copy
        for h in console_handlers:
            h.addFilter(handler_filter)
            if (screen is not None and isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                    and any(h.stream is x for x in terminals)):
                moved.append((h, h.setStream(screen)))
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
            for logger, lh in muted:
                logger.addHandler(lh)
                logger.propagate = propagate[logger]
            # handlers a library created inside the block (torch imported there) hold the log file as their
            # stream: give them the console back before the file closes
            for _, lh in _console_handlers((log_file,)):
                lh.setStream(sys.__stderr__)
            logging.captureWarnings(False)
            root.removeHandler(file_handler)
            if own_console is not None:
                root.removeHandler(own_console)
            root.setLevel(root_level)
            for h in console_handlers:
                h.removeFilter(handler_filter)
            for h, stream in moved:
                h.setStream(stream)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
