"""What a probe gets and gives: :class:`ProbeContext` (the cell's task, encoder, exact prefixes, dataset, and
the artifacts it keeps) and :class:`ProbeValue` (one number, stored in the sidecar and the leaderboard).

A probe never writes a file: it hands an artifact's bytes to :meth:`ProbeContext.add_artifact`, and the cell's
writer (:func:`harness.run.cell.write_cell`) puts them beside the sidecar — in this process for the local
executor, in the driver for the Ray executor (a worker only returns bytes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.results import layout
from harness.taskspecs.local import Task

if TYPE_CHECKING:
    from harness.run.encoder import PromptedEncoder


@dataclass(frozen=True)
class ProbeValue:
    subset: str
    metric: str
    score: float
    n_items: int
    split: str = "test"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProbeContext:
    """What a probe may use: the task, the cell's encoder (prefixes applied by the caller), the exact prefixes
    per role, the loaded mteb dataset ({subset: {split: data}}) and where the cell keeps its files."""

    task: Task
    encoder: PromptedEncoder
    prompts: dict[str, str]
    dataset: Any
    cell_path: Path  # the sidecar path (relative to the results folder); artifacts go beside it
    artifacts: dict[Path, bytes] = field(default_factory=dict)  # path → bytes, in the order probes made them

    def artifact(self, name: str) -> Path:
        return layout.artifact_path(self.cell_path, name)

    def add_artifact(self, name: str, data: bytes) -> None:
        """Keep an artifact (e.g. a parquet file's bytes); the cell's writer stores it beside the sidecar."""
        self.artifacts[self.artifact(name)] = data
