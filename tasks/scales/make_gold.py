"""Derive every ``tasks/Scale*/pairs.csv`` (all gold views) from the scale's ``words.csv`` and the shared
``tasks/scales/controls.csv``; where a scale has ``words_second.csv`` (an independent second placement), write the
agreement between the two placements to ``tasks/scales/agreement.csv``. Deterministic; ``tests/test_scales.py``
checks the committed files equal this script's output.

Run:   python tasks/scales/make_gold.py            (write)
       python tasks/scales/make_gold.py --check    (write nothing; exit 1 naming the first file that differs)
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS_DIR = HERE.parent
CONTROLS = HERE / "controls.csv"
AGREEMENT = HERE / "agreement.csv"
PAIR_COLUMNS = ["subset", "split", "sentence1", "sentence2", "score"]
AGREEMENT_COLUMNS = ["task", "n_words", "spearman", "max_abs_diff", "mean_abs_diff"]
# (subset, language column, view): English views always; German views when words.csv has word_deu
VIEWS = [("scale", "word", "scale"), ("relation", "word", "relation"),
         ("scale_deu", "word_deu", "scale"), ("relation_deu", "word_deu", "relation")]


class GoldError(ValueError):
    """A words/controls file breaks the family's rules."""


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _hundredths(raw: str, where: str) -> int:
    """A position as integer hundredths (exact arithmetic: no -0.00 from float noise); checks range and 0.05 grid."""
    try:
        value = round(float(raw) * 100)
    except ValueError:
        raise GoldError(f"{where}: position {raw!r} is not a number") from None
    if abs(float(raw) * 100 - value) > 1e-6 or value % 5:
        raise GoldError(f"{where}: position {raw} is not on the 0.05 grid")
    if not -100 <= value <= 100:
        raise GoldError(f"{where}: position {raw} outside [-1, 1]")
    return value


def scale_tasks() -> list[str]:
    """Names of the scale tasks: every ``tasks/Scale*`` folder with a words.csv, sorted."""
    return sorted(p.parent.name for p in TASKS_DIR.glob("Scale*/words.csv"))


def controls() -> list[dict[str, str]]:
    return _read(CONTROLS)


def scale_words(task: str) -> list[dict[str, str]]:
    """The task's scale words (word, position, word_deu) in file order."""
    return _read(TASKS_DIR / task / "words.csv")


def has_german(task: str) -> bool:
    return all(w.get("word_deu") for w in scale_words(task))


def gold_rows(task: str) -> list[dict[str, str]]:
    """pairs.csv rows of one scale task: every unordered pair of distinct words (scale words then controls, in
    file order), one row per subset: ``scale`` = 1 - |pos_a - pos_b| for two scale words and 0 with a control,
    ``relation`` = 1 for two scale words and 0 with a control; ``*_deu`` the same for the German words."""
    path = TASKS_DIR / task / "words.csv"
    words = scale_words(task)
    german = has_german(task)
    items: list[tuple[dict[str, str], int | None]] = []
    for i, w in enumerate(words):
        if not w.get("word"):
            raise GoldError(f"{path}: row {i + 2}: empty word")
        items.append((w, _hundredths(w.get("position", ""), f"{path}: row {i + 2}")))
    for c in controls():
        if german and not c.get("word_deu"):
            raise GoldError(f"{CONTROLS}: control {c['word']!r} has no word_deu")
        items.append((c, None))
    views = [v for v in VIEWS if german or v[1] == "word"]
    for _, column, _ in views:
        seen = [w[column] for w, _ in items]
        dup = next((x for x in seen if seen.count(x) > 1), None)
        if dup is not None:
            raise GoldError(f"{path}: {column} {dup!r} appears twice (scale words + shared controls)")
    rows = []
    for (a, pa), (b, pb) in itertools.combinations(items, 2):
        if pa is not None and pb is not None:  # two scale words: 1 - distance; related
            hundredths = {"scale": 100 - abs(pa - pb), "relation": 100}
        else:  # a control in the pair: neither similar on the scale nor related
            hundredths = {"scale": 0, "relation": 0}
        for subset, column, view in views:
            rows.append({"subset": subset, "split": "test", "sentence1": a[column], "sentence2": b[column],
                         "score": f"{hundredths[view] / 100:.2f}"})
    return rows


def all_gold_rows() -> dict[str, list[dict[str, str]]]:
    """{task: pairs.csv rows} for every scale task."""
    return {task: gold_rows(task) for task in scale_tasks()}


def agreement_rows() -> list[dict[str, str]]:
    """One row per scale task that has ``words_second.csv``: Spearman correlation between the first and the
    second placement over the scale words (controls excluded), and the largest and mean absolute difference."""
    out = []
    for task in scale_tasks():
        second_path = TASKS_DIR / task / "words_second.csv"
        if not second_path.exists():
            continue
        first = {w["word"]: _hundredths(w["position"], f"{task}/words.csv") / 100 for w in scale_words(task)}
        second_rows = _read(second_path)
        second = {}
        for i, w in enumerate(second_rows):
            second[w["word"]] = _hundredths(w.get("position", ""), f"{second_path}: row {i + 2}") / 100
        if len(second) != len(second_rows) or set(second) != set(first):
            missing, extra = sorted(set(first) - set(second)), sorted(set(second) - set(first))
            raise GoldError(f"{second_path}: words differ from words.csv (missing {missing}, extra {extra}, "
                            f"or a word twice)")
        from scipy.stats import spearmanr  # imported only when a second placement exists

        order = list(first)
        a, b = [first[w] for w in order], [second[w] for w in order]
        rho = float(spearmanr(a, b).statistic)
        diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
        out.append({"task": task, "n_words": str(len(order)), "spearman": f"{rho:.3f}",
                    "max_abs_diff": f"{max(diffs):.2f}", "mean_abs_diff": f"{sum(diffs) / len(diffs):.3f}"})
    return out


def _csv_text(columns: list[str], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def expected_files() -> dict[Path, str | None]:
    """Every file this script owns -> its content (None: the file must not exist)."""
    files: dict[Path, str | None] = {
        TASKS_DIR / task / "pairs.csv": _csv_text(PAIR_COLUMNS, rows) for task, rows in all_gold_rows().items()
    }
    agreement = agreement_rows()
    files[AGREEMENT] = _csv_text(AGREEMENT_COLUMNS, agreement) if agreement else None
    return files


def check() -> Path | None:
    """The first owned file whose committed state differs from what this script would write (None: all equal)."""
    for path, text in expected_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            return path
    return None


def main(argv: list[str]) -> int:
    try:
        if argv == ["--check"]:
            differs = check()
            if differs is not None:
                print(f"{differs}: differs from what tasks/scales/make_gold.py would write; run it", file=sys.stderr)
                return 1
            return 0
        if argv:
            print("usage: python tasks/scales/make_gold.py [--check]", file=sys.stderr)
            return 2
        for path, text in expected_files().items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8", newline="")
    except GoldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
