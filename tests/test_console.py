"""A quiet, log-friendly console (issue 27, item 6): the libraries' own console handlers (torch's glog-style
``I1202 … compile_threads set to 2``), native writes to descriptor 2 (absl/glog) and warnings go to the run log;
off a terminal the display is one plain line per finished cell and a final summary, never carriage-return frames;
``make bench THREADS=… BATCH_SIZE=…`` passes both on."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run.progress import Progress
from tests.conftest import ROOT

SCRIPT = """
import logging, os, sys, warnings
from pathlib import Path
import torch  # before the block: its loggers' own StreamHandlers hold the terminal
from harness.run import console
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
with console.library_output(Path(sys.argv[1]), verbose=False) as screen:
    import torch._inductor.config  # logs "compile_threads set to N" at INFO through torch's own handler
    os.write(2, b"I0000 00:00:1700000000.000000 123 native.cc:1] absl-style line\\n")
    warnings.warn("a library warning")
    logging.getLogger("harness.x").warning("harness warning stays")
    print("display line", file=screen)
logging.getLogger("torch").warning("torch after the block")
print("after", file=sys.stderr)
"""


def test_library_lines_go_to_the_log_and_the_harness_keeps_the_console(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    # the console: the harness's own warning, its display, and after the block everything as before (torch's
    # handler restored: its warning is printed in torch's own format)
    lines = p.stderr.splitlines()
    assert lines[:2] == ["WARNING harness warning stays", "display line"]
    assert "torch after the block" in lines[2] and lines[3] == "after" and len(lines) == 4
    text = log.read_text()
    assert "compile_threads set to" in text and "absl-style line" in text and "UserWarning: a library warning" in text


def _lines(screen: io.StringIO) -> list[str]:
    return screen.getvalue().splitlines()


def test_off_a_terminal_each_finished_cell_is_one_plain_line_then_a_summary() -> None:
    screen = io.StringIO()  # not a terminal
    bar = Progress(total_cells=2, stream=screen)
    assert bar.plain
    bar.note("skipped 1 cell")
    bar.status("importing mteb")
    bar.cell_started("m/none/T")
    bar.strings("id", ["a", "b"], ["c"], 0.1)
    bar.cell_finished("m/none/T")
    bar.cell_started("m/blog/T")
    bar.cell_finished("m/blog/T")
    bar.close()
    bar.close()  # once
    out = screen.getvalue()
    assert "\r" not in out and "\x1b" not in out
    lines = _lines(screen)
    assert lines[0] == "skipped 1 cell"
    assert lines[1].startswith("cell 1/2 done: m/none/T in ") and "encoded 2 · 1 from cache" in lines[1]
    assert lines[2].startswith("cell 2/2 done: m/blog/T in ")
    assert lines[3].startswith("run: 2/2 cells in ") and lines[3].endswith("encoded 2 · 1 from cache")
    assert len(lines) == 4


def test_off_means_silent_and_a_terminal_gets_the_redrawn_line(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = io.StringIO()
    off = Progress(total_cells=1, stream=quiet, enabled=False)
    off.cell_started("a")
    off.cell_finished("a")
    off.close()
    assert quiet.getvalue() == "" and not off.plain

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stdout", Tty())
    bar = Progress(total_cells=1, stream=tty)
    assert not bar.plain
    bar.cell_started("a")
    bar.cell_finished("a")
    bar.close()
    assert "\r" in tty.getvalue() and "cell 1/1 done" not in tty.getvalue()


def test_a_piped_cli_run_prints_plain_lines_and_no_library_line(tmp_path: Path) -> None:
    """The real model (minilm, one small cell) with stderr piped, as under CI, SLURM or `| tee`."""
    tasks = tmp_path / "tasks" / "TinyPairs"
    tasks.mkdir(parents=True)
    (tasks / "task.yaml").write_text(
        "name: TinyPairs\ntype: STS\ndescription: d\nsubsets: {default: [eng-Latn]}\nmain_score: cosine_spearman\n"
        "date: ['2026-01-01', '2026-01-01']\ndomains: [Written]\nlicense: cc-by-4.0\n"
        "annotations_creators: expert-annotated\nsample_creation: created\ndata: pairs.csv\nmin_score: 0\n"
        "max_score: 1\n")
    (tasks / "pairs.csv").write_text("sentence1,sentence2,score\nwarm,hot,0.8\nwarm,cold,0.1\ncold,icy,0.9\n"
                                     "hot,philosophy,0\n")
    p = subprocess.run([sys.executable, "-m", "harness", "run", "--model", "minilm", "--tasks-dir",
                        str(tmp_path / "tasks"), "--tasks", "TinyPairs", "--conditions", "none", "--results",
                        str(tmp_path / "r"), "--threads", "1"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr and "I1202" not in p.stderr and "compile_threads" not in p.stderr
    lines = p.stderr.splitlines()
    assert lines[0].startswith("cell 1/1 done: minilm/none/TinyPairs in ")
    assert lines[1].startswith("run: 1/1 cells in ") and lines[2].startswith("log (library output): ")
    assert p.stdout.startswith("cells: 1 ran, 0 reused, 0 failed")


@pytest.mark.parametrize(("args", "want", "absent"), [
    (["THREADS=1", "BATCH_SIZE=8"], ['--threads "1"', '--batch-size "8"'], []),
    ([], [], ["--threads", "--batch-size"]),
])
def test_make_bench_passes_threads_and_batch_size(args: list[str], want: list[str], absent: list[str]) -> None:
    p = subprocess.run(["make", "-n", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    run = next(line for line in p.stdout.splitlines() if "harness run" in line)
    assert all(w in run for w in want) and not any(a in run for a in absent)
    assert '--results "results"' in run  # relative: make runs in the checkout, so <checkout>/results
