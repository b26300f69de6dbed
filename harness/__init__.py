"""Do instructions change what text-embedding models do? A harness on top of mteb.

Public API (imported lazily, so that the offline environment is set before mteb/transformers load):

    run(models, tasks=None, conditions=None, results_dir=..., executor="local"|"ray", ray_address=None,
        workers=None)                                           -> RunSummary
    aggregate(results_dir)                                      -> (leaderboard, deltas) DataFrames (+ report)
    compare(results_dir, tasks=None, models=None)               -> side-by-side table with deltas and 95% CIs
    list_tasks(), list_models(), list_conditions()
    validate(paths=None)                                        -> list of validated files
"""

from __future__ import annotations

from typing import Any

from harness.core.offline import configure

__all__ = ["aggregate", "compare", "configure", "list_conditions", "list_models", "list_tasks", "run", "validate"]

_API = {
    "run": ("harness.api", "run"),
    "aggregate": ("harness.api", "aggregate"),
    "compare": ("harness.api", "compare"),
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
