"""Process environment that must be in place before mteb, transformers or datasets are imported.

Hugging Face libraries read their offline switches and cache paths at import time, so the harness sets them
first thing. Offline is the default: no code path may wait on the network. ``HARNESS_ONLINE=1`` (or the CLI's
``--online``) lifts it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("HARNESS_CACHE", PROJECT_ROOT / ".cache"))

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_HEAVY_MODULES = ("mteb", "transformers", "datasets", "huggingface_hub", "sentence_transformers")
_configured = False


def is_online() -> bool:
    return os.environ.get("HARNESS_ONLINE", "0") == "1"


def configure(*, online: bool | None = None) -> None:
    """Set the offline switches and a project-local MTEB cache. Idempotent; call before importing mteb."""
    global _configured
    if online is not None:
        os.environ["HARNESS_ONLINE"] = "1" if online else "0"
    if _configured and online is None:
        return
    if any(m in sys.modules for m in _HEAVY_MODULES) and online:
        # Too late to change what the libraries read at import time; say so instead of pretending.
        raise RuntimeError("--online must be chosen before mteb/transformers are imported")
    for var in _OFFLINE_VARS:
        os.environ[var] = "0" if is_online() else "1"
    os.environ.setdefault("MTEB_CACHE", str(CACHE_DIR / "mteb"))
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _configured = True
