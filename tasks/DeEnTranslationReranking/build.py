"""Derive this task's four CSV files from DeEnTranslationRetrieval's (the Ding sample; see ../ding/README.md).

Each of the first QUERIES German sentences (in the order of DeEnTranslationRetrieval/queries.csv, itself a seeded
sample) reranks CANDIDATES English sentences: its translation and DISTRACTORS others drawn without replacement,
seeded, from the English translations of the other kept sentences; the candidates of a query are listed in a
seeded random order. The corpus is the English translations of the kept sentences. Deterministic (stdlib only);
tests/test_reranking.py checks the committed files equal this script's output.
Run: python tasks/DeEnTranslationReranking/build.py
"""

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE.parent / "DeEnTranslationRetrieval"
QUERIES = 1000
DISTRACTORS = 20
SEED = 20261203


def _read(name: str) -> list[dict[str, str]]:
    with (SOURCE / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def tables() -> dict[str, list[dict[str, str]]]:
    """{file stem: rows} of corpus, queries, qrels and candidates."""
    queries = _read("queries.csv")[:QUERIES]
    english = {r["id"]: r["text"] for r in _read("corpus.csv")}
    translation = {r["query_id"]: r["doc_id"] for r in _read("qrels.csv")}
    kept = [translation[q["id"]] for q in queries]
    rng = random.Random(SEED)
    candidates = []
    for q, doc in zip(queries, kept, strict=True):
        others = rng.sample([d for d in kept if d != doc], DISTRACTORS)
        listed = [doc, *others]
        rng.shuffle(listed)
        candidates += [{"query_id": q["id"], "doc_id": d} for d in listed]
    return {
        "corpus": [{"id": d, "text": english[d]} for d in kept],
        "queries": [{"id": q["id"], "text": q["text"]} for q in queries],
        "qrels": [{"query_id": q["id"], "doc_id": d, "score": "1"} for q, d in zip(queries, kept, strict=True)],
        "candidates": candidates,
    }


def main() -> None:
    for stem, rows in tables().items():
        with (HERE / f"{stem}.csv").open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
