"""A task's data files → the ``{subset: {split: data}}`` dataset its mteb task type expects.

Every problem is one line naming the file, row and column: missing columns, empty text, scores that are not
numbers or lie outside the declared range, duplicate ids, qrels pointing nowhere, undecodable bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.taskspecs.spec import SPEC_FILE, BitextSpec, RetrievalSpec, STSSpec, TaskSpec

_READERS = {
    ".csv": lambda p: pd.read_csv(p, keep_default_na=False, na_values=[""], dtype=str),
    ".tsv": lambda p: pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""], dtype=str),
    ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
    ".parquet": pd.read_parquet,
}


def read_table(path: Path, required: list[str], text_columns: list[str]) -> pd.DataFrame:
    """Read one data file; check columns, empty text and add default subset/split columns."""
    reader = _READERS.get(path.suffix)
    if reader is None:
        raise HarnessError(f"{path}: unsupported data file type '{path.suffix}' (use {', '.join(_READERS)})")
    try:
        df = reader(path)
    except FileNotFoundError:
        raise HarnessError(f"{path}: data file not found") from None
    except UnicodeDecodeError as e:
        raise HarnessError(f"{path}: undecodable text at byte {e.start} ({e.reason}); save it as UTF-8") from None
    except Exception as e:
        raise HarnessError(f"{path}: cannot read ({e.__class__.__name__}: {str(e).splitlines()[0]})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise HarnessError(f"{path}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, df.columns))}")
    if df.empty:
        raise HarnessError(f"{path}: no rows")
    for col in text_columns:
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise HarnessError(f"{path}: row {row + 2}: empty '{col}'")
        df[col] = df[col].astype(str)
    for col, default in (("subset", "default"), ("split", "test")):
        df[col] = df[col].astype(str) if col in df.columns else default
    return df



def _check_subsets(spec: TaskSpec, path: Path, df: pd.DataFrame) -> None:
    for col, allowed in (("subset", set(spec.subsets)), ("split", set(spec.splits))):
        extra = set(df[col]) - allowed
        if extra:
            raise HarnessError(f"{path}: {col} '{sorted(extra)[0]}' is not declared in {SPEC_FILE}")
        absent = allowed - set(df[col])
        if absent:
            raise HarnessError(f"{path}: no rows for {col} '{sorted(absent)[0]}' declared in {SPEC_FILE}")


def load_dataset(folder: Path, spec: TaskSpec) -> dict[str, dict[str, Any]]:
    """{subset: {split: data}} in the shape the mteb task type expects (Hugging Face ``datasets``; retrieval as
    mteb's ``RetrievalSplitData``). The libraries are imported here, not when the harness starts."""
    configure()
    from datasets import Dataset

    s = spec
    if isinstance(s, STSSpec):
        return _load_sts(folder, s)
    if isinstance(s, BitextSpec):
        path = folder / s.data
        df = read_table(path, ["sentence1", "sentence2"], ["sentence1", "sentence2"])
        _check_subsets(s, path, df)
        return {
            sub: {sp: Dataset.from_pandas(g[["sentence1", "sentence2"]], preserve_index=False)}
            for (sub, sp), g in df.groupby(["subset", "split"], sort=True)
        }
    return _load_retrieval(folder, s)


def _load_sts(folder: Path, s: STSSpec) -> dict[str, dict[str, Any]]:
    from datasets import Dataset, DatasetDict

    path = folder / s.data
    df = read_table(path, ["sentence1", "sentence2", "score"], ["sentence1", "sentence2"])
    scores = pd.to_numeric(df["score"], errors="coerce")
    for i, (raw, val) in enumerate(zip(df["score"], scores, strict=True)):
        if val is None or math.isnan(val):
            raise HarnessError(f"{path}: row {i + 2}: score '{raw}' is not a number")
        if not s.min_score <= val <= s.max_score:
            raise HarnessError(f"{path}: row {i + 2}: score {val} outside [{s.min_score}, {s.max_score}]")
    df["score"] = scores.astype(float)
    _check_subsets(s, path, df)
    out: dict[str, dict[str, Any]] = {}
    for (sub, sp), g in df.groupby(["subset", "split"], sort=True):
        out.setdefault(sub, {})[sp] = Dataset.from_pandas(
            g[["sentence1", "sentence2", "score"]], preserve_index=False
        )
    return {k: DatasetDict(v) for k, v in out.items()}


def _load_retrieval(folder: Path, s: RetrievalSpec) -> dict[str, dict[str, Any]]:
    from datasets import Dataset
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    files = {k: folder / v for k, v in s.data.model_dump().items()}
    corpus = read_table(files["corpus"], ["id", "text"], ["id", "text"])
    queries = read_table(files["queries"], ["id", "text"], ["id", "text"])
    qrels = read_table(files["qrels"], ["query_id", "doc_id", "score"], ["query_id", "doc_id"])
    for key, df in (("corpus", corpus), ("queries", queries)):
        _check_subsets(s, files[key], df)
        dup = df.duplicated(["subset", "split", "id"])
        if dup.any():
            row = int(dup.to_numpy().nonzero()[0][0])
            raise HarnessError(f"{files[key]}: row {row + 2}: duplicate id '{df['id'].iloc[row]}'")
    qrels["score"] = pd.to_numeric(qrels["score"], errors="coerce")
    if qrels["score"].isna().any():
        row = int(qrels["score"].isna().to_numpy().nonzero()[0][0])
        raise HarnessError(f"{files['qrels']}: row {row + 2}: score is not a number")
    out: dict[str, dict[str, Any]] = {}
    for (sub, sp), q in queries.groupby(["subset", "split"], sort=True):
        c = corpus[(corpus.subset == sub) & (corpus.split == sp)]
        r = qrels[(qrels.subset == sub) & (qrels.split == sp)]
        for col, ids, f in (("query_id", set(q.id), "queries"), ("doc_id", set(c.id), "corpus")):
            missing = set(r[col]) - ids
            if missing:
                raise HarnessError(
                    f"{files['qrels']}: {col} '{sorted(missing)[0]}' not in {files[f].name} ({sub}/{sp})"
                )
        rel: dict[str, dict[str, int]] = {}
        for qid, did, score in zip(r.query_id, r.doc_id, r.score, strict=True):
            rel.setdefault(qid, {})[did] = int(score)
        cols = ["id", "text", *(["title"] if "title" in c.columns else [])]
        out.setdefault(sub, {})[sp] = RetrievalSplitData(
            corpus=Dataset.from_pandas(c[cols], preserve_index=False),
            queries=Dataset.from_pandas(q[["id", "text"]], preserve_index=False),
            relevant_docs=rel,
            top_ranked=None,
        )
    return out
