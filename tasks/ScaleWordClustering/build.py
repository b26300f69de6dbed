"""Writes items.csv of ScaleWordClustering and pairs.csv of ScaleEndPairClassification from the scale family's
word lists (tasks/Scale*/words.csv: word, position on the scale in [-1, 1], word_deu). Deterministic (seed 0):

    python tasks/ScaleWordClustering/build.py
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

TASKS = Path(__file__).resolve().parents[1]
END = 0.2  # |position| below this is the middle of a scale: neither end (left out of the pairs)


def scale_words() -> pd.DataFrame:
    """Every scale word with its scale (folder name without 'Scale', lower case); a word in two scales' lists
    (in either language) is left out, since it cannot have one label."""
    frames = []
    for folder in sorted(TASKS.glob("Scale*/words.csv")):
        df = pd.read_csv(folder, dtype={"word": str, "word_deu": str})
        df["scale"] = folder.parent.name.removeprefix("Scale").lower()
        frames.append(df[["scale", "word", "word_deu", "position"]])
    words = pd.concat(frames, ignore_index=True)
    shared = words.word.duplicated(keep=False) | words.word_deu.duplicated(keep=False)
    return words[~shared].reset_index(drop=True)


def clustering(words: pd.DataFrame) -> pd.DataFrame:
    eng = pd.DataFrame({"subset": "eng", "text": words.word, "label": words.scale})
    deu = pd.DataFrame({"subset": "deu", "text": words.word_deu, "label": words.scale})
    return pd.concat([eng, deu], ignore_index=True)


def pairs(words: pd.DataFrame) -> pd.DataFrame:
    """Per scale, the words at either end (|position| >= END) in a seeded random order, paired consecutively:
    every word is in at most one pair, so the pairs share no word. label 1 = both at the same end."""
    rng = random.Random(0)
    rows = []
    for scale, g in words.groupby("scale", sort=True):
        ends = g[g.position.abs() >= END].to_dict("records")
        rng.shuffle(ends)
        for a, b in zip(ends[0::2], ends[1::2], strict=False):
            same = int((a["position"] > 0) == (b["position"] > 0))
            rows.append({"scale": scale, "eng1": a["word"], "eng2": b["word"], "deu1": a["word_deu"],
                         "deu2": b["word_deu"], "label": same})
    df = pd.DataFrame(rows)
    eng = pd.DataFrame({"subset": "eng", "sentence1": df.eng1, "sentence2": df.eng2, "label": df.label})
    deu = pd.DataFrame({"subset": "deu", "sentence1": df.deu1, "sentence2": df.deu2, "label": df.label})
    return pd.concat([eng, deu], ignore_index=True)


def main() -> None:
    words = scale_words()
    clustering(words).to_csv(TASKS / "ScaleWordClustering" / "items.csv", index=False)
    pairs(words).to_csv(TASKS / "ScaleEndPairClassification" / "pairs.csv", index=False)


if __name__ == "__main__":
    main()
