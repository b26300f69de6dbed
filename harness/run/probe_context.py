"""What a probe gets and gives: :class:`ProbeContext` (the cell's task, encoder, exact prefixes, dataset and
where its files go) and :class:`ProbeValue` (one number, stored in the sidecar and the leaderboard)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.results import layout
from harness.taskspecs.local import LocalTask

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

    task: LocalTask
    encoder: PromptedEncoder
    prompts: dict[str, str]
    dataset: Any
    cell_path: Path  # the sidecar path; artifacts go beside it

    def artifact(self, name: str) -> Path:
        return layout.artifact_path(self.cell_path, name)
