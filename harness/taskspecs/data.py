"""A task's data files → the ``{subset: {split: data}}`` dataset its mteb task type expects.

Every problem is one line naming the file, row and column: missing columns, empty text, scores that are not
numbers or lie outside the declared range, duplicate ids, qrels pointing nowhere, undecodable bytes (with the
file's line and column). :func:`check_data` runs every check with pandas alone (no ``datasets``, no mteb), so
a run can check all its tasks before the first cell; :func:`load_dataset` builds the datasets from the same
checked tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import HarnessError, Problems
from harness.core.offline import configure
from harness.taskspecs.spec import (
    SPEC_FILE,
    TRAIN_SPLIT,
    BitextSpec,
    ClassificationSpec,
    ClusteringSpec,
    PairClassificationSpec,
    RerankingSpec,
    RetrievalSpec,
    STSSpec,
    TaskSpec,
)

_READERS = {
    ".csv": lambda p: pd.read_csv(p, keep_default_na=False, na_values=[""], dtype=str),
    ".tsv": lambda p: pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""], dtype=str),
    ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
    ".parquet": pd.read_parquet,
}


MAX_ROWS = 10  # bad rows listed per file and check; the rest are counted ("and N more")


def bad_rows(path: Path, rows: list[tuple[int, str]]) -> HarnessError:
    """Every bad row of one file (``(row index, what is wrong)``, row numbers as in the file: header = 1), one
    line each up to :data:`MAX_ROWS`, then one line counting the rest."""
    problems = Problems()
    for i, what in rows[:MAX_ROWS]:
        problems.add(f"{path}: row {i + 2}: {what}")
    if len(rows) > MAX_ROWS:
        problems.add(f"{path}: and {len(rows) - MAX_ROWS} more bad row(s)")
    return problems.error()


def read_table(path: Path, required: list[str], text_columns: list[str],
               bad: list[tuple[int, str]] | None = None) -> pd.DataFrame:
    """Read one data file; check columns, empty text and add default subset/split columns. ``bad``: collect the
    rows with empty text there (the caller adds its own checks and raises all together) instead of raising."""
    reader = _READERS.get(path.suffix)
    if reader is None:
        raise HarnessError(f"{path}: unsupported data file type '{path.suffix}' (use {', '.join(_READERS)})")
    if path.suffix != ".parquet":
        check_utf8(path)
    try:
        df = reader(path)
    except FileNotFoundError:
        raise HarnessError(f"{path}: data file not found") from None
    except UnicodeDecodeError as e:  # normally caught by check_utf8 first, with the line and column
        raise HarnessError(f"{path}: undecodable text ({e.reason}); save it as UTF-8") from None
    except Exception as e:
        raise HarnessError(f"{path}: cannot read ({e.__class__.__name__}: {str(e).splitlines()[0]})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise HarnessError(f"{path}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, df.columns))}")
    if df.empty:
        raise HarnessError(f"{path}: no rows")
    empty: list[tuple[int, str]] = []
    for col in text_columns:
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        empty += [(int(row), f"empty '{col}'") for row in blank.to_numpy().nonzero()[0]]
        df[col] = df[col].astype(str)
    if empty and bad is None:
        raise bad_rows(path, sorted(empty))
    if bad is not None:
        bad += empty
    for col, default in (("subset", "default"), ("split", "test")):
        df[col] = df[col].astype(str) if col in df.columns else default
    return df


def check_utf8(path: Path) -> None:
    """A text file must be UTF-8: the first bad byte is reported at its line and column in the file (pandas
    decodes in chunks, so its own error gives an offset within a chunk)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"{path}: data file not found") from None
    except OSError as e:
        raise HarnessError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        column = len(raw[line_start:e.start].decode("utf-8", errors="replace")) + 1
        raise HarnessError(f"{path}:{line}:{column}: undecodable text (byte 0x{raw[e.start]:02x}: {e.reason}); "
                           "save it as UTF-8") from None


def _check_subsets(spec: TaskSpec, path: Path, df: pd.DataFrame) -> None:
    for col, allowed in (("subset", set(spec.subsets)), ("split", set(spec.splits))):
        present = set(df[col].tolist())  # tolist: one C conversion, not a Python loop over an Arrow array
        extra = present - allowed
        if extra:
            raise HarnessError(f"{path}: {col} '{sorted(extra)[0]}' is not declared in {SPEC_FILE}")
        absent = allowed - present
        if absent:
            raise HarnessError(f"{path}: no rows for {col} '{sorted(absent)[0]}' declared in {SPEC_FILE}")


def checked_tables(folder: Path, spec: TaskSpec) -> dict[str, pd.DataFrame]:
    """The task's data as checked pandas tables: ``pairs`` (STS, bitext) or ``corpus``/``queries``/``qrels``
    (retrieval). Every file is checked; all their problems are raised together."""
    if isinstance(spec, STSSpec):
        return {"pairs": _sts_table(folder, spec)}
    if isinstance(spec, ClassificationSpec):
        return {"pairs": _classification_table(folder, spec)}
    if isinstance(spec, PairClassificationSpec):
        return {"pairs": _pair_classification_table(folder, spec)}
    if isinstance(spec, ClusteringSpec):
        return {"pairs": _clustering_table(folder, spec)}
    if isinstance(spec, BitextSpec):
        path = folder / spec.data
        df = read_table(path, ["sentence1", "sentence2"], ["sentence1", "sentence2"])
        _check_subsets(spec, path, df)
        return {"pairs": df}
    return _retrieval_tables(folder, spec)


def check_data(folder: Path, spec: TaskSpec) -> dict[str, list[str]]:
    """Check every data file of a task (pandas only: cheap enough to run on every task before a run) and return
    the distinct texts it feeds per role (``query``; retrieval also ``document``, ``title text`` as mteb joins
    them) — what a run of the task will ask a model to encode."""
    tables = checked_tables(folder, spec)
    if isinstance(spec, ClassificationSpec | ClusteringSpec):
        return {"query": list(dict.fromkeys(tables["pairs"]["text"]))}
    if "pairs" in tables:
        df = tables["pairs"]
        return {"query": list(dict.fromkeys([*df["sentence1"].tolist(), *df["sentence2"].tolist()]))}
    corpus = tables["corpus"]
    titles = corpus["title"].fillna("").astype(str).tolist() if "title" in corpus.columns else [""] * len(corpus)
    docs = [f"{t} {x}".strip() if t else x for t, x in zip(titles, corpus["text"].tolist(), strict=True)]
    return {"query": list(dict.fromkeys(tables["queries"]["text"].tolist())), "document": list(dict.fromkeys(docs))}


def load_dataset(folder: Path, spec: TaskSpec) -> dict[str, dict[str, Any]]:
    """{subset: {split: data}} in the shape the mteb task type expects (Hugging Face ``datasets``; retrieval as
    mteb's ``RetrievalSplitData``). The libraries are imported here, not when the harness starts."""
    configure()
    from datasets import Dataset, DatasetDict

    tables = checked_tables(folder, spec)
    if isinstance(spec, RetrievalSpec):
        return _retrieval_dataset(tables)
    df = tables["pairs"]
    if isinstance(spec, ClassificationSpec):
        return _classification_dataset(df)
    if isinstance(spec, PairClassificationSpec | ClusteringSpec):
        return _labelled_dataset(df, spec)
    cols = ["sentence1", "sentence2", *(["score"] if isinstance(spec, STSSpec) else [])]
    out: dict[str, dict[str, Any]] = {}
    for (sub, sp), g in df.groupby(["subset", "split"], sort=True):
        out.setdefault(sub, {})[sp] = Dataset.from_pandas(g[cols], preserve_index=False)
    if isinstance(spec, STSSpec):
        return {k: DatasetDict(v) for k, v in out.items()}
    return out


def _sts_table(folder: Path, s: STSSpec) -> pd.DataFrame:
    path = folder / s.data
    wrong: list[tuple[int, str]] = []  # every bad row: empty text and bad scores together
    df = read_table(path, ["sentence1", "sentence2", "score"], ["sentence1", "sentence2"], wrong)
    scores = pd.to_numeric(df["score"], errors="coerce")
    values = scores.to_numpy(dtype=float, na_value=math.nan)
    bad = np.isnan(values) | (values < s.min_score) | (values > s.max_score)
    raw_scores, parsed = df["score"].tolist(), scores.tolist()
    for i in np.flatnonzero(bad).tolist():  # every bad row (bad_rows lists up to its cap), no loop over good ones
        raw, val = raw_scores[i], parsed[i]
        if val is None or math.isnan(val):
            wrong.append((i, f"score '{raw}' is not a number"))
        elif not s.min_score <= val <= s.max_score:
            wrong.append((i, f"score {val} outside [{s.min_score}, {s.max_score}]"))
    if wrong:
        raise bad_rows(path, sorted(wrong))
    df["score"] = scores.astype(float)
    _check_subsets(s, path, df)
    return df


def _retrieval_tables(folder: Path, s: RetrievalSpec) -> dict[str, pd.DataFrame]:
    files = {k: folder / v for k, v in s.data.model_dump().items()}
    problems = Problems()
    tables: dict[str, pd.DataFrame] = {}
    wanted = [("corpus", ["id", "text"]), ("queries", ["id", "text"]), ("qrels", ["query_id", "doc_id", "score"])]
    if isinstance(s, RerankingSpec):
        wanted.append(("candidates", ["query_id", "doc_id"]))
    for key, required in wanted:
        with problems.collect():
            df = read_table(files[key], required, required[:2])
            if key in ("corpus", "queries"):
                _check_subsets(s, files[key], df)
                dup = df.duplicated(["subset", "split", "id"])
                if dup.any():
                    raise bad_rows(files[key], [(int(row), f"duplicate id '{df['id'].iloc[row]}'")
                                                for row in dup.to_numpy().nonzero()[0]])
            elif key == "qrels":
                df["score"] = pd.to_numeric(df["score"], errors="coerce")
                if df["score"].isna().any():
                    raise bad_rows(files["qrels"], [(int(row), "score is not a number")
                                                    for row in df["score"].isna().to_numpy().nonzero()[0]])
            tables[key] = df
    problems.raise_if_any()
    corpus, queries, qrels = tables["corpus"], tables["queries"], tables["qrels"]
    for (sub, sp), q in queries.groupby(["subset", "split"], sort=True):
        c = corpus[(corpus.subset == sub) & (corpus.split == sp)]
        r = qrels[(qrels.subset == sub) & (qrels.split == sp)]
        for col, ids, f in (("query_id", set(q.id.tolist()), "queries"), ("doc_id", set(c.id.tolist()), "corpus")):
            missing = set(r[col].tolist()) - ids
            if missing:
                problems.add(f"{files['qrels']}: {col} '{sorted(missing)[0]}' not in {files[f].name} ({sub}/{sp})")
        if "candidates" in tables:
            _check_candidates(files["candidates"], q, c, r, tables["candidates"], (sub, sp), problems)
    problems.raise_if_any()
    return tables


def _check_candidates(path: Path, queries: pd.DataFrame, corpus: pd.DataFrame, qrels: pd.DataFrame,
                      candidates: pd.DataFrame, at: tuple[str, str], problems: Problems) -> None:
    """A reranking split's candidate lists: known query and document ids, no duplicate pair, every query with
    candidates, and every relevant (score > 0) document among its query's candidates (else no ranking of it)."""
    cand = candidates[(candidates.subset == at[0]) & (candidates.split == at[1])]
    where = "/".join(at)
    qids, dids = set(queries.id.tolist()), set(corpus.id.tolist())
    for col, ids, f in (("query_id", qids, "queries"), ("doc_id", dids, "corpus")):
        missing = sorted(set(cand[col].tolist()) - ids)
        if missing:
            problems.add(f"{path}: {col} '{missing[0]}' not in the {f} file ({where}"
                         + (f"; {len(missing)} such ids)" if len(missing) > 1 else ")"))
    dup = cand.duplicated(["query_id", "doc_id"])
    if dup.any():
        first = cand[dup].iloc[0]
        problems.add(f"{path}: candidate '{first.doc_id}' listed twice for query '{first.query_id}' ({where})")
    without = sorted(qids - set(cand.query_id.tolist()))
    if without:
        problems.add(f"{path}: query '{without[0]}' has no candidates ({where}"
                     + (f"; {len(without)} such queries)" if len(without) > 1 else ")"))
    pairs = set(zip(cand.query_id.tolist(), cand.doc_id.tolist(), strict=True))
    rel = qrels[qrels.score > 0]
    outside = [(qi, d) for qi, d in zip(rel.query_id.tolist(), rel.doc_id.tolist(), strict=True)
               if (qi, d) not in pairs]
    if outside:
        qi, d = outside[0]
        problems.add(f"{path}: relevant document '{d}' of query '{qi}' is not among its candidates ({where}"
                     + (f"; {len(outside)} such pairs)" if len(outside) > 1 else ")"))


def _retrieval_dataset(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    from datasets import Dataset
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    corpus, queries, qrels = tables["corpus"], tables["queries"], tables["qrels"]
    out: dict[str, dict[str, Any]] = {}
    for (sub, sp), q in queries.groupby(["subset", "split"], sort=True):
        c = corpus[(corpus.subset == sub) & (corpus.split == sp)]
        r = qrels[(qrels.subset == sub) & (qrels.split == sp)]
        rel: dict[str, dict[str, int]] = {}
        for qid, did, score in zip(r.query_id, r.doc_id, r.score, strict=True):
            rel.setdefault(qid, {})[did] = int(score)
        cols = ["id", "text", *(["title"] if "title" in c.columns else [])]
        out.setdefault(sub, {})[sp] = RetrievalSplitData(
            corpus=Dataset.from_pandas(c[cols], preserve_index=False),
            queries=Dataset.from_pandas(q[["id", "text"]], preserve_index=False),
            relevant_docs=rel,
            top_ranked=_top_ranked(tables, sub, sp),
        )
    return out


def _top_ranked(tables: dict[str, pd.DataFrame], sub: str, sp: str) -> dict[str, list[str]] | None:
    """A reranking split's candidates as mteb's ``top_ranked`` ({query id: [document ids]}); None for retrieval."""
    if "candidates" not in tables:
        return None
    c = tables["candidates"]
    c = c[(c.subset == sub) & (c.split == sp)]
    out: dict[str, list[str]] = {}
    for qid, did in zip(c.query_id.tolist(), c.doc_id.tolist(), strict=True):
        out.setdefault(qid, []).append(did)
    return out


def label_names(df: pd.DataFrame) -> list[str]:
    """A classification task's labels, sorted: label ``i`` is fed to mteb as the integer ``i``."""
    return sorted(set(df["label"]))


def _classification_table(folder: Path, s: ClassificationSpec) -> pd.DataFrame:
    """``text, label`` rows; every (subset, evaluation split) needs rows, every subset a ``train`` split with at
    least two labels, and every evaluation label must occur in its subset's train split. All problems at once."""
    path = folder / s.data
    df = read_table(path, ["text", "label"], ["text", "label"])
    problems = Problems()
    splits = [TRAIN_SPLIT, *s.splits]
    for col, allowed in (("subset", list(s.subsets)), ("split", splits)):
        for extra in sorted(set(df[col]) - set(allowed)):
            problems.add(f"{path}: {col} '{extra}' is not declared in {SPEC_FILE}"
                         + (f" (splits: {', '.join(splits)})" if col == "split" else ""))
    for sub in s.subsets:
        rows = df[df.subset == sub]
        for sp in splits:
            if not (rows.split == sp).any():
                problems.add(f"{path}: no rows for subset '{sub}' split '{sp}'")
        train = set(rows.label[rows.split == TRAIN_SPLIT])
        if train and len(train) < 2:
            problems.add(f"{path}: subset '{sub}': the train split has only one label ('{sorted(train)[0]}')")
        for sp in s.splits:
            unseen = sorted(set(rows.label[rows.split == sp]) - train) if train else []
            if unseen:
                problems.add(f"{path}: subset '{sub}' split '{sp}': label '{unseen[0]}' never occurs in train")
    dup = df.duplicated(["subset", "split", "text"])
    for row in dup.to_numpy().nonzero()[0][:5]:
        problems.add(f"{path}: row {int(row) + 2}: duplicate text '{df['text'].iloc[row]}' in its subset and split")
    problems.raise_if_any()
    return df


def _classification_dataset(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    from datasets import Dataset, DatasetDict

    index = {name: i for i, name in enumerate(label_names(df))}
    out: dict[str, dict[str, Any]] = {}
    for (sub, sp), g in df.groupby(["subset", "split"], sort=True):
        data = pd.DataFrame({"text": g["text"].tolist(), "label": [index[x] for x in g["label"]]})
        out.setdefault(sub, {})[sp] = Dataset.from_pandas(data, preserve_index=False)
    return {k: DatasetDict(v) for k, v in out.items()}


def _split_problems(spec: TaskSpec, path: Path, df: pd.DataFrame, problems: Problems) -> None:
    """Undeclared subsets/splits and declared (subset, split)s without rows, each one line."""
    for col, allowed in (("subset", list(spec.subsets)), ("split", list(spec.splits))):
        for extra in sorted(set(df[col]) - set(allowed)):
            problems.add(f"{path}: {col} '{extra}' is not declared in {SPEC_FILE}")
    for sub in spec.subsets:
        for sp in spec.splits:
            if not ((df.subset == sub) & (df.split == sp)).any():
                problems.add(f"{path}: no rows for subset '{sub}' split '{sp}'")


def _pair_classification_table(folder: Path, s: PairClassificationSpec) -> pd.DataFrame:
    """``sentence1, sentence2, label`` rows, label 0 or 1; every (subset, split) needs both labels; no pair twice
    in a subset and split (in either order). All problems at once, one line each."""
    path = folder / s.data
    wrong: list[tuple[int, str]] = []
    df = read_table(path, ["sentence1", "sentence2", "label"], ["sentence1", "sentence2"], wrong)
    raw = df["label"].astype(str).str.strip().tolist()
    for i, v in enumerate(raw):
        if v not in ("0", "1", "0.0", "1.0"):
            wrong.append((i, f"label '{v}' is not 0 or 1"))
    key = [tuple(sorted((str(a), str(b)))) for a, b in zip(df["sentence1"], df["sentence2"], strict=True)]
    seen: dict[tuple[str, str, object], int] = {}
    for i, (sub, sp, k) in enumerate(zip(df["subset"], df["split"], key, strict=True)):
        if (sub, sp, k) in seen:
            wrong.append((i, f"duplicate pair '{k[0]}' / '{k[1]}' (also row {seen[(sub, sp, k)] + 2})"))
        else:
            seen[(sub, sp, k)] = i
    problems = Problems()
    if wrong:
        for line in bad_rows(path, sorted(wrong)).lines():
            problems.add(line)
    _split_problems(s, path, df, problems)
    if not wrong:
        df["label"] = [int(float(v)) for v in raw]
        _one_label_problems(s, path, df, problems, lambda label: f"every pair has label {int(label)} (average "
                            "precision needs pairs of both labels)")
    problems.raise_if_any()
    return df


def _one_label_problems(s: Any, path: Path, df: pd.DataFrame, problems: Problems, say: Callable[[Any], str]
                        ) -> None:
    """One line per evaluated (subset, split) whose rows all carry one label (``say``: the rest of the line)."""
    for (sub, sp), g in df.groupby(["subset", "split"], sort=True):
        if sub in s.subsets and sp in s.splits and g["label"].nunique() < 2:
            problems.add(f"{path}: subset '{sub}' split '{sp}': {say(g['label'].iloc[0])}")


def _clustering_table(folder: Path, s: ClusteringSpec) -> pd.DataFrame:
    """``text, label`` rows; every (subset, split) needs at least two labels (k-means with k = 1 says nothing)
    and no text twice. All problems at once, one line each."""
    path = folder / s.data
    wrong: list[tuple[int, str]] = []
    df = read_table(path, ["text", "label"], ["text", "label"], wrong)
    dup = df.duplicated(["subset", "split", "text"])
    for row in dup.to_numpy().nonzero()[0].tolist():
        wrong.append((int(row), f"duplicate text '{df['text'].iloc[row]}' in its subset and split"))
    problems = Problems()
    if wrong:
        for line in bad_rows(path, sorted(wrong)).lines():
            problems.add(line)
    _split_problems(s, path, df, problems)
    _one_label_problems(s, path, df, problems, lambda label: f"one cluster only ('{label}'); clustering needs at "
                        "least two labels")
    problems.raise_if_any()
    return df


def _labelled_dataset(df: pd.DataFrame, spec: TaskSpec) -> dict[str, dict[str, Any]]:
    """PairClassification: ``sentence1, sentence2, labels`` (0/1); Clustering: ``sentences, labels`` with the
    labels as integers (sorted label names → 0, 1, …), mteb's column names."""
    from datasets import Dataset, DatasetDict

    out: dict[str, dict[str, Any]] = {}
    index = {name: i for i, name in enumerate(label_names(df))}
    for (sub, sp), g in df.groupby(["subset", "split"], sort=True):
        if isinstance(spec, PairClassificationSpec):
            data = pd.DataFrame({"sentence1": g["sentence1"].tolist(), "sentence2": g["sentence2"].tolist(),
                                 "labels": [int(x) for x in g["label"]]})
        else:
            data = pd.DataFrame({"sentences": g["text"].tolist(), "labels": [index[x] for x in g["label"]]})
        out.setdefault(sub, {})[sp] = Dataset.from_pandas(data, preserve_index=False)
    return {k: DatasetDict(v) for k, v in out.items()}
