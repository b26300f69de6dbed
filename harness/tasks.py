"""Tasks as data: ``tasks/<Name>/task.yaml`` + data files → validated spec → a real mteb task.

Adding a task of a supported type (STS, Retrieval, BitextMining) needs no code: a folder with a ``task.yaml``
and its data file(s). The spec's metadata fields are passed straight to mteb's ``TaskMetadata``, so mteb's own
validation applies; the dataset revision is the sha256 of the spec and data files, so a changed file is a new
revision (and never answered with an old result).
"""

from __future__ import annotations

import builtins
import hashlib
import math
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError, unknown
from harness.offline import PROJECT_ROOT, configure
from harness.specfile import describe_validation_error, load

configure()

from datasets import Dataset, DatasetDict  # noqa: E402
from mteb.abstasks import AbsTask, AbsTaskRetrieval, AbsTaskSTS  # noqa: E402
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining  # noqa: E402

TASKS_DIR = PROJECT_ROOT / "tasks"
SPEC_FILE = "task.yaml"


class _Metadata(BaseModel):
    """Fields handed to mteb's TaskMetadata (which validates their values)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]+$")
    description: str = Field(min_length=1)
    reference: str | None = None
    subsets: dict[str, list[str]] = Field(
        description="hf_subset -> languages (BCP-47 like eng-Latn). One entry 'default' for a single subset."
    )
    splits: list[str] = ["test"]
    main_score: str
    date: tuple[str, str]
    domains: list[str]
    task_subtypes: list[str] = []
    license: str
    annotations_creators: str
    dialect: list[str] = []
    sample_creation: str
    bibtex_citation: str = ""


class Claim(BaseModel):
    """A headline claim checked per model and condition: cosine(higher) > cosine(lower)."""

    model_config = ConfigDict(extra="forbid")
    higher: tuple[str, str]
    lower: tuple[str, str]


class STSSpec(_Metadata):
    type: Literal["STS"]
    data: str = Field(description="file with columns sentence1, sentence2, score [, subset, split]")
    min_score: float
    max_score: float
    report_pairs: list[tuple[str, str]] = Field(
        default=[], description="text pairs whose cosine is reported per model and condition (pair table)"
    )
    claims: list[Claim] = []


class RetrievalFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corpus: str = Field(description="columns id, text [, title, subset, split]")
    queries: str = Field(description="columns id, text [, subset, split]")
    qrels: str = Field(description="columns query_id, doc_id, score [, subset, split]")


class LanguageProbeSpec(BaseModel):
    """Turns on the language-split probe (harness/language_probe.py) for a retrieval task whose queries file
    has ``language`` and ``pair`` columns: each pair holds one query in each of the two languages."""

    model_config = ConfigDict(extra="forbid")
    languages: tuple[str, str] = Field(description="the two values of the queries file's 'language' column")
    role: Literal["query", "document"] = Field(
        default="query", description="whose prefix the probed strings get (the role the task feeds them as)"
    )


class RetrievalSpec(_Metadata):
    type: Literal["Retrieval"]
    data: RetrievalFiles
    ignore_identical_ids: bool = Field(
        default=False, description="a query never retrieves the document with its own id"
    )
    language_probe: LanguageProbeSpec | None = None


class BitextSpec(_Metadata):
    type: Literal["BitextMining"]
    data: str = Field(description="file with columns sentence1, sentence2 [, subset, split]")



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


class LocalTask:
    """One task folder: its validated spec, data, content hash and the mteb task built from them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.spec_path = folder / SPEC_FILE
        raw: dict[str, Any] = load(self.spec_path, dict)
        kinds: dict[str, type[STSSpec | RetrievalSpec | BitextSpec]] = {
            "STS": STSSpec, "Retrieval": RetrievalSpec, "BitextMining": BitextSpec
        }
        kind = kinds.get(str(raw.get("type")))
        if kind is None:
            raise HarnessError(
                f"{self.spec_path}: field 'type': {raw.get('type')!r} is not one of {', '.join(kinds)}"
            )
        try:
            self.spec: STSSpec | RetrievalSpec | BitextSpec = kind.model_validate(raw)
        except ValidationError as e:
            raise HarnessError(describe_validation_error(self.spec_path, e)) from None
        if self.spec.name != folder.name:
            raise HarnessError(
                f"{self.spec_path}: field 'name': '{self.spec.name}' must equal its folder name '{folder.name}'"
            )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    def data_files(self) -> list[Path]:
        d = self.spec.data
        names = [d] if isinstance(d, str) else [d.corpus, d.queries, d.qrels]
        return [self.folder / n for n in names]

    @cached_property
    def data_hash(self) -> str:
        """sha256 over the spec and every data file: the task's revision."""
        h = hashlib.sha256()
        for p in [self.spec_path, *self.data_files()]:
            try:
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
            except FileNotFoundError:
                raise HarnessError(f"{p}: data file not found") from None
            except OSError as e:
                raise HarnessError(f"{p}: cannot read ({e.__class__.__name__})") from None
        return h.hexdigest()

    def metadata(self) -> TaskMetadata:
        s = self.spec
        multi = list(s.subsets) != ["default"]
        langs: Any = s.subsets if multi else s.subsets["default"]
        category = "t2t"
        try:
            fields: dict[str, Any] = dict(
                name=s.name,
                description=s.description,
                reference=s.reference,
                dataset={"path": f"local/{s.name}", "revision": self.data_hash[:12]},
                type=s.type,
                category=category,
                modalities=["text"],
                eval_splits=s.splits,
                eval_langs=langs,
                main_score=s.main_score,
                date=s.date,
                domains=s.domains,
                task_subtypes=s.task_subtypes,
                license=s.license,
                annotations_creators=s.annotations_creators,
                dialect=s.dialect,
                sample_creation=s.sample_creation,
                bibtex_citation=s.bibtex_citation,
            )
            return TaskMetadata(**fields)  # mteb validates the values
        except ValidationError as e:
            raise HarnessError(describe_validation_error(self.spec_path, e)) from None

    # -- data -------------------------------------------------------------------------------------------
    def _check_subsets(self, path: Path, df: pd.DataFrame) -> None:
        for col, allowed in (("subset", set(self.spec.subsets)), ("split", set(self.spec.splits))):
            extra = set(df[col]) - allowed
            if extra:
                raise HarnessError(f"{path}: {col} '{sorted(extra)[0]}' is not declared in {SPEC_FILE}")
            absent = allowed - set(df[col])
            if absent:
                raise HarnessError(f"{path}: no rows for {col} '{sorted(absent)[0]}' declared in {SPEC_FILE}")

    def load_dataset(self) -> dict[str, dict[str, Any]]:
        """{subset: {split: data}} in the shape the mteb task type expects."""
        s = self.spec
        if isinstance(s, STSSpec):
            return self._load_sts(s)
        if isinstance(s, BitextSpec):
            path = self.folder / s.data
            df = read_table(path, ["sentence1", "sentence2"], ["sentence1", "sentence2"])
            self._check_subsets(path, df)
            return {
                sub: {sp: Dataset.from_pandas(g[["sentence1", "sentence2"]], preserve_index=False)}
                for (sub, sp), g in df.groupby(["subset", "split"], sort=True)
            }
        return self._load_retrieval(s)

    def _load_sts(self, s: STSSpec) -> dict[str, dict[str, Any]]:
        path = self.folder / s.data
        df = read_table(path, ["sentence1", "sentence2", "score"], ["sentence1", "sentence2"])
        scores = pd.to_numeric(df["score"], errors="coerce")
        for i, (raw, val) in enumerate(zip(df["score"], scores, strict=True)):
            if val is None or math.isnan(val):
                raise HarnessError(f"{path}: row {i + 2}: score '{raw}' is not a number")
            if not s.min_score <= val <= s.max_score:
                raise HarnessError(f"{path}: row {i + 2}: score {val} outside [{s.min_score}, {s.max_score}]")
        df["score"] = scores.astype(float)
        self._check_subsets(path, df)
        out: dict[str, dict[str, Any]] = {}
        for (sub, sp), g in df.groupby(["subset", "split"], sort=True):
            out.setdefault(sub, {})[sp] = Dataset.from_pandas(
                g[["sentence1", "sentence2", "score"]], preserve_index=False
            )
        return {k: DatasetDict(v) for k, v in out.items()}

    def _load_retrieval(self, s: RetrievalSpec) -> dict[str, dict[str, Any]]:
        files = {k: self.folder / v for k, v in s.data.model_dump().items()}
        corpus = read_table(files["corpus"], ["id", "text"], ["id", "text"])
        queries = read_table(files["queries"], ["id", "text"], ["id", "text"])
        qrels = read_table(files["qrels"], ["query_id", "doc_id", "score"], ["query_id", "doc_id"])
        for key, df in (("corpus", corpus), ("queries", queries)):
            self._check_subsets(files[key], df)
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

    # -- mteb ---------------------------------------------------------------------------------------------
    @cached_property
    def mteb_task_class(self) -> builtins.type[AbsTask]:
        bases: dict[str, builtins.type[AbsTask]] = {
            "STS": AbsTaskSTS,
            "Retrieval": AbsTaskRetrieval,
            "BitextMining": AbsTaskBitextMining,
        }
        base = bases[self.type]
        local = self

        def load_data(task: AbsTask, **_: Any) -> None:
            if task.data_loaded:
                return
            task.dataset = local.load_dataset()
            task.data_loaded = True

        def keep_predictions(task: AbsTask, predictions: Any, model: Any, prediction_folder: Any,
                             hf_split: str, hf_subset: str) -> None:
            # mteb would dump them as JSON (top-1000 documents per retrieval query: ~100 MB); keep them in memory
            task.item_predictions.setdefault(hf_subset, {})[hf_split] = predictions  # type: ignore[attr-defined]

        attrs: dict[str, Any] = {"metadata": self.metadata(), "load_data": load_data, "__module__": __name__,
                                 "_save_task_predictions": keep_predictions}
        if isinstance(self.spec, STSSpec):
            attrs |= {"min_score": self.spec.min_score, "max_score": self.spec.max_score}
        if isinstance(self.spec, RetrievalSpec):
            attrs["ignore_identical_ids"] = self.spec.ignore_identical_ids
        return builtins.type(self.name, (base,), attrs)

    def mteb_task(self) -> AbsTask:
        """A loaded mteb task. Evaluated with a ``prediction_folder``, it keeps mteb's item-level predictions in
        ``task.item_predictions`` ({subset: {split: predictions}}) instead of writing them to that folder."""
        task = self.mteb_task_class()
        task.item_predictions = {}  # type: ignore[attr-defined]
        task.load_data()
        return task


class TaskRegistry:
    """All task folders under ``root``; duplicate names raise, unknown names suggest."""

    default_root: ClassVar[Path] = TASKS_DIR

    def __init__(self, root: Path | None = None):
        self.root = root or self.default_root
        self._tasks: dict[str, LocalTask] = {}
        for spec in sorted(self.root.glob(f"*/{SPEC_FILE}")):
            task = LocalTask(spec.parent)
            if task.name in self._tasks:
                raise HarnessError(f"{spec}: duplicate task name '{task.name}'")
            self._tasks[task.name] = task

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def get(self, name: str) -> LocalTask:
        if name not in self._tasks:
            raise unknown("task", name, self._tasks, where=str(self.root))
        return self._tasks[name]

    def select(self, names: list[str] | None) -> list[LocalTask]:
        return [self.get(n) for n in names] if names else [self._tasks[n] for n in self.names()]
