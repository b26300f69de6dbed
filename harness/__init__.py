"""Do instructions change what text-embedding models do? A harness on top of mteb.

Public API (imported lazily, so that the offline environment is set before mteb/transformers load):

    run(models, tasks=None, conditions=None, results_dir=...)   -> RunSummary
    aggregate(results_dir)                                      -> (leaderboard, deltas) DataFrames
    list_tasks(), list_models(), list_conditions()
    validate(paths=None)                                        -> list of validated files
"""

from __future__ import annotations

from typing import Any

from harness.offline import configure

__all__ = ["aggregate", "configure", "list_conditions", "list_models", "list_tasks", "run", "validate"]

_API = {
    "run": ("harness.api", "run"),
    "aggregate": ("harness.api", "aggregate"),
    "list_tasks": ("harness.api", "list_tasks"),
    "list_models": ("harness.api", "list_models"),
    "list_conditions": ("harness.api", "list_conditions"),
    "validate": ("harness.api", "validate"),
}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        configure()
        module, attr = _API[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)
