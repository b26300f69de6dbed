"""The schema of a task file, ``tasks/<Name>/task.yaml`` (validated with ``extra="forbid"``).

Adding a task of a supported type (STS, Retrieval, BitextMining) needs no code: a folder with a ``task.yaml``
and its data file(s). The metadata fields are handed unchanged to mteb's ``TaskMetadata``
(:mod:`harness.taskspecs.mteb_task`), so mteb's own validation applies too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core.errors import Problems
from harness.core.offline import PROJECT_ROOT
from harness.core.yamlfile import FileContext, load

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
    resample_unit: Literal["item", "text", "query", "sentence"] | None = Field(
        default=None,
        description="what the statistics resample together (default: inferred — STS: texts that recur across "
                    "pairs, else items; Retrieval: queries; BitextMining: sentences)",
    )
    family: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_-]*$",
        description="tasks with the same family are also summarised together (e.g. 'scales'); harness-only",
    )


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
    """Turns on the language-split probe (harness/run/language_probe.py) for a retrieval task whose queries file
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


class RerankingFiles(RetrievalFiles):
    candidates: str = Field(description="columns query_id, doc_id [, subset, split]: the documents each query reranks")


class RerankingSpec(RetrievalSpec):
    """Retrieval restricted to each query's candidates: mteb's ``AbsTaskRetrieval`` with ``top_ranked`` (mteb 2.x
    runs its Reranking tasks so), scoring only the listed documents of each query."""

    type: Literal["Reranking"]  # type: ignore[assignment]
    data: RerankingFiles


class BitextSpec(_Metadata):
    type: Literal["BitextMining"]
    data: str = Field(description="file with columns sentence1, sentence2 [, subset, split]")


class ClassificationSpec(_Metadata):
    """mteb's own classifier (logistic regression) fitted on the train split's embeddings, scored on the test
    split. The harness fits it once per cell (``n_experiments`` = 1), so every test item has one prediction."""

    type: Literal["Classification"]
    data: str = Field(description="file with columns text, label [, subset, split]; splits train and test")
    splits: list[str] = ["test"]
    samples_per_label: int = Field(default=8, ge=1, description="training texts drawn per label (mteb's "
                                                                "undersampling, seeded)")


class PairClassificationSpec(_Metadata):
    """mteb's pair classification: the model's similarity of each pair ranks the pairs; the main score is the
    average precision of the label-1 pairs under that ranking (``similarity_ap``; each pair's similarity is
    kept as its prediction)."""

    type: Literal["PairClassification"]
    data: str = Field(description="file with columns sentence1, sentence2, label (0/1) [, subset, split]")
    main_score: Literal["similarity_ap"] = "similarity_ap"


class ClusteringSpec(_Metadata):
    """mteb's clustering (``AbsTaskClustering``): k-means (k = number of labels) on the texts' embeddings, scored
    by v-measure. The harness runs one seeded k-means on every text once (no subsampling), so each text has one
    assigned cluster."""

    type: Literal["Clustering"]
    data: str = Field(description="file with columns text, label [, subset, split]")
    main_score: Literal["v_measure"] = "v_measure"


TaskSpec = (STSSpec | RetrievalSpec | BitextSpec | ClassificationSpec | RerankingSpec | PairClassificationSpec
            | ClusteringSpec)
TRAIN_SPLIT = "train"  # a classification task's training split (not an evaluation split)
# The units a task type may state (the first is the default when a task states none; STS infers text or item).
RESAMPLE_UNITS: dict[str, tuple[str, ...]] = {"STS": ("text", "item"), "Retrieval": ("query", "item"),
                                              "BitextMining": ("sentence", "item"),
                                              "Classification": ("item",), "Reranking": ("query", "item"),
                                              "PairClassification": ("item",), "Clustering": ("item",)}
KINDS: dict[str, type[TaskSpec]] = {
    "STS": STSSpec, "Retrieval": RetrievalSpec, "BitextMining": BitextSpec, "Classification": ClassificationSpec,
    "Reranking": RerankingSpec, "PairClassification": PairClassificationSpec, "Clustering": ClusteringSpec,
}


def read_spec(folder: Path) -> TaskSpec:
    """``<folder>/task.yaml`` validated against the schema of its ``type``; its name must be the folder's. Every
    problem is one line with file, line and field (all of them at once: :class:`~harness.core.errors.InputErrors`)."""
    path = folder / SPEC_FILE
    raw: dict[str, Any] = load(path, dict)
    ctx = FileContext(path)
    problems = Problems()
    if "name" in raw and raw.get("name") != folder.name:
        problems.add(ctx.error(("name",), f"'{raw.get('name')}' must equal its folder name '{folder.name}'"))
    kind = KINDS.get(str(raw.get("type")))
    if kind is None:  # an invalid type must not hide the other fields' problems: check them against the closest
        problems.add(ctx.error(("type",), f"{raw.get('type')!r} is not one of {', '.join(KINDS)}"))
        rest = min((_problems(ctx, k, {**raw, "type": t}) for t, k in KINDS.items()), key=len)
        for line in rest:
            problems.add(line)
        raise problems.error()
    try:
        spec: TaskSpec = kind.model_validate(raw)
    except ValidationError as e:
        problems.add(ctx.validation_error(e, kind))
        raise problems.error() from None
    if isinstance(spec, ClassificationSpec) and TRAIN_SPLIT in spec.splits:
        problems.add(ctx.error(("splits",), f"'{TRAIN_SPLIT}' is the training split; list only evaluation splits"))
    allowed = RESAMPLE_UNITS[spec.type]
    if spec.resample_unit is not None and spec.resample_unit not in allowed:
        problems.add(ctx.error(("resample_unit",), f"'{spec.resample_unit}' is not one of {', '.join(allowed)} "
                                                   f"for a {spec.type} task"))
    problems.raise_if_any()
    return spec


def _problems(ctx: FileContext, kind: Any, raw: dict[str, Any]) -> list[str]:
    """The lines validating ``raw`` against ``kind`` gives (none when it is valid)."""
    try:
        kind.model_validate(raw)
    except ValidationError as e:
        return ctx.validation_error(e, kind).lines()
    return []


def data_files(folder: Path, spec: TaskSpec) -> list[Path]:
    d = spec.data
    names = [d] if isinstance(d, str) else [d.corpus, d.queries, d.qrels]
    return [folder / n for n in names]
