"""Derive pairs.csv (both gold views) from words.csv. Deterministic; `tests/test_tasks.py` checks the
committed pairs.csv equals this script's output. Run: python tasks/TemperatureBySensation/make_gold.py"""

import csv
import itertools
from pathlib import Path

HERE = Path(__file__).parent


def gold_rows() -> list[dict[str, str]]:
    with (HERE / "words.csv").open(encoding="utf-8") as f:
        words = list(csv.DictReader(f))
    rows = []
    for a, b in itertools.combinations(words, 2):
        both = a["kind"] == b["kind"] == "temperature"
        # sensation: 1 - distance on the cold (-1) .. hot (+1) scale; opposite ends -> -1; controls -> 0
        sensation = 1 - abs(float(a["position"]) - float(b["position"])) if both else 0.0
        # relation: any two temperature words are related (1); anything with a control word is not (0)
        relation = 1.0 if both else 0.0
        for subset, score in (("sensation", sensation), ("relation", relation)):
            rows.append(
                {"subset": subset, "split": "test", "sentence1": a["word"], "sentence2": b["word"],
                 "score": f"{score:.2f}"}
            )
    return rows


def main() -> None:
    rows = gold_rows()
    with (HERE / "pairs.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
