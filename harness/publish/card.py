"""The dataset card (``README.md`` of a published folder): a YAML header Hugging Face reads (one ``configs`` entry
per table, license, languages, tags, size category) and a body that documents every column (rendered from
:mod:`harness.results.columns`), the models with revisions, the exact instruction strings per condition, the tasks
and their licenses, versions and how to reproduce and push.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness.analysis import folding, headline
from harness.core import markdown as md
from harness.prompts.conditions import condition_order, order_conditions
from harness.prompts.schema import ASYMMETRIC_TYPES
from harness.results.columns import columns
from harness.stats import engine

MARKER = "<!-- written by `harness publish`: rerun it to update this folder -->"
LICENSE = "cc-by-4.0"
LICENSE_NAME = "CC BY 4.0"
TAGS = ["mteb", "embeddings", "text-embeddings", "instructions", "prompts", "leaderboard", "evaluation"]
GPL_TASK_NOTE = (
    "The translation tasks' sentences come from the Ding German–English dictionary (Debian package `trans-de-en` "
    "1.9), licensed GPL-2.0-or-later. This dataset holds none of their text: the leaderboard and deltas hold "
    "scores, and the predictions hold item indices, sentence ids (such as `de-000530-4`), gold values and the "
    "models' scores. Publishing these numbers does not redistribute the dictionary; whoever joins them back to "
    "the sentences (from the Debian package or the harness repository) handles GPL-2.0-or-later text and must "
    "follow that license (keep its notice, pass on the same freedoms and the source). The scores themselves are "
    f"released under {LICENSE_NAME}.")
_ISO1 = {"eng": "en", "deu": "de", "fra": "fr", "spa": "es", "ita": "it", "nld": "nl", "por": "pt", "pol": "pl",
         "rus": "ru", "zho": "zh", "jpn": "ja", "kor": "ko", "ara": "ar", "tur": "tr", "swe": "sv", "dan": "da"}


@dataclass
class Contents:
    """What the published folder holds (paths relative to it) and where it came from."""

    results_dir: Path  # the folder being written (its files already checked against their pins)
    board: pd.DataFrame
    deltas: pd.DataFrame
    sidecars: list[dict[str, Any]]
    predictions: list[str]  # data/predictions/... files, empty without --with-predictions
    result_files: list[str]  # results/<org__model>/<rev>/experiments/... (mteb's layout)
    languages: list[str]  # ISO 639 codes of the tasks' languages
    model_meta: dict[tuple[str, str], dict[str, Any]]  # (model, revision) → mteb's model_meta.json


def size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((name for bound, name in bounds if n < bound), "100M<n<1B")


def iso_language(code: str) -> str:
    """``eng-Latn`` → ``en`` (ISO 639-1 where there is one, else the 639-3 code)."""
    lang = code.split("-")[0].lower()
    return _ISO1.get(lang, lang)


def header(c: Contents) -> dict[str, Any]:
    configs: list[dict[str, Any]] = [
        {"config_name": "leaderboard", "data_files": [{"split": "train", "path": "data/leaderboard.parquet"}],
         "default": True},
        {"config_name": "deltas", "data_files": [{"split": "train", "path": "data/deltas.parquet"}]},
    ]
    rows = max(len(c.board), len(c.deltas))
    if c.predictions:
        configs.append({"config_name": "predictions",
                        "data_files": [{"split": "train", "path": "data/predictions/*/*/*/*.parquet"}]})
        rows = max(rows, _prediction_rows(c))
    return {"license": LICENSE, "pretty_name": "Do instructions change what text-embedding models do?",
            "language": c.languages, "tags": TAGS, "size_categories": [size_category(rows)], "configs": configs}


def _prediction_rows(c: Contents) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(c.results_dir / rel).num_rows for rel in c.predictions)


def _esc(v: object) -> str:
    return md.text(v)  # every cell comes from a file or is already md (Md): HTML-escaped, pipes escaped


def _table(head: list[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_esc(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _models(c: Contents) -> str:
    rows = []
    for alias, model, revision in sorted({(s["alias"], s["model"], s["revision"]) for s in c.sidecars}):
        settings = next(s.get("model_settings", {}) for s in c.sidecars if (s["model"], s["revision"]) ==
                        (model, revision))
        lic = c.model_meta.get((model, revision), {}).get("license") or "not recorded: see the model's own card"
        shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        rows.append([md.code(alias), md.code(model), md.code(revision), shown, lic])
    return _table(["alias", "model", "revision", "settings", "weights license"], rows)


def _instructions(c: Contents) -> str:
    """Per model: the exact prefix of every task and role, conditions with the same prefix folded into one row."""
    out = []
    for alias, model, revision in sorted({(s["alias"], s["model"], s["revision"]) for s in c.sidecars}):
        cells = [s for s in c.sidecars if (s["model"], s["revision"]) == (model, revision)]
        by_prefix: dict[tuple[str, str, str], list[str]] = {}
        for s in cells:
            for role, prefix in sorted(s.get("prompts", {}).items()):
                if s["task_type"] not in ASYMMETRIC_TYPES and role == "document":
                    continue  # symmetric tasks feed every text the query side
                shown_role = role if s["task_type"] in ASYMMETRIC_TYPES else "both"
                by_prefix.setdefault((s["task"], shown_role, prefix), []).append(s["condition"])
        rows = [[task, role, folding.label(order_conditions(conds)), md.code(repr(prefix))]
                for (task, role, prefix), conds in sorted(by_prefix.items(), key=lambda kv: (
                    kv[0][0], kv[0][1], condition_order(order_conditions(kv[1])[0])))]
        out.append(f"**{md.text(alias)}** ({md.code(model)} @ {md.code(revision)})\n\n"
                   + _table(["task", "role", "conditions", "exact prefix (Python repr)"], rows))
    return "\n".join(out)


def _task_info(task: str, data_sha: str) -> tuple[str, str]:
    """(license, reference) from the task's spec here, when it is the same task data; else unknown."""
    from harness.taskspecs.local import LocalTask
    from harness.taskspecs.spec import TASKS_DIR

    try:
        local = LocalTask(TASKS_DIR / task)
        if local.data_hash != data_sha:
            return "see the harness repository (task data differs from this checkout)", ""
        return local.spec.license, local.spec.reference or ""
    except Exception:
        return "not recorded here", ""


def _tasks(c: Contents) -> tuple[str, bool]:
    rows, gpl = [], False
    main = c.board[c.board.is_main]
    for task in sorted({s["task"] for s in c.sidecars}):
        side = next(s for s in c.sidecars if s["task"] == task)
        lic, ref = _task_info(task, side["task_data_sha256"])
        gpl = gpl or "gpl" in lic.lower()
        subsets = sorted(set(main[main.task == task].subset)) or ["default"]
        items = {sub: n for sub, splits in side.get("n_items", {}).items() for n in splits.values()}
        rows.append([task, side["task_type"], side["main_score"], ", ".join(subsets),
                     ", ".join(f"{k}: {v}" for k, v in sorted(items.items())),
                     md.code(str(side["task_data_sha256"])[:12]), lic, ref])
    return _table(["task", "type", "main score", "subsets", "items", "data sha256", "license", "source"], rows), gpl


def _columns(table: str) -> str:
    return _table(["column", "type", "meaning"], [[md.code(n), t, d] for n, t, d in columns(table)])


def _versions(c: Contents) -> str:
    created = sorted(s["created_at"] for s in c.sidecars)
    rows = [["harness (cells)", ", ".join(sorted(set(c.board.harness_version)))],
            ["mteb (cells)", ", ".join(sorted(set(c.board.mteb_version)))],
            ["cells evaluated", f"{created[0]} … {created[-1]}"],
            ["statistics", f"paired bootstrap ({engine.N_BOOTSTRAP} resamples, percentile 95% CI), paired permutation "
                           f"test (adaptive: from {engine.N_PERMUTATIONS} swaps up to {engine.MAX_PERMUTATIONS} while "
                           "the decision is open; exact when 2^n ≤ that; p never below 1/(1 + swaps)), Holm within "
                           "each model × kind of comparison (family, family_size columns)"]]
    return _table(["what", "value"], rows)


def _reproduce(c: Contents) -> str:
    """The commands, every name from a file quoted for the shell (``shlex.quote``) and fenced so nothing closes
    the block."""
    aliases = shlex.quote(",".join(sorted({s["alias"] for s in c.sidecars})))
    tasks = shlex.quote(",".join(sorted({s["task"] for s in c.sidecars})))
    conds = shlex.quote(",".join(order_conditions({s["condition"] for s in c.sidecars})))
    commands = (f"harness run --model {aliases} --tasks {tasks} --conditions {conds} --results results\n"
                "harness aggregate --results results\n"
                f"harness publish OUT --results results{' --with-predictions' if c.predictions else ''}")
    return (f"{md.fence(commands, 'bash')}\n\n"
            "Cells are identified by the model's name, revision and settings, the task data's sha256 and the exact "
            "prefixes, so a rerun with other data or instructions never mixes with these numbers.\n")


def render(c: Contents) -> str:
    front = yaml.safe_dump(header(c), sort_keys=False, allow_unicode=True, width=1000)
    n_models = len({(s["model"], s["revision"]) for s in c.sidecars})
    n_conds = len({s["condition"] for s in c.sidecars})
    n_tasks = len({s["task"] for s in c.sidecars})
    tasks_md, gpl = _tasks(c)
    files = [f"- `data/leaderboard.parquet`: {len(c.board):,} rows, one per model × condition × task × subset × "
             "split × metric (mteb's scores and the harness's probes).",
             f"- `data/deltas.parquet`: {len(c.deltas):,} rows, each condition minus its baseline, with paired "
             "statistics for the main metric.",
             f"- `results/`: mteb's results tree ({len(c.result_files)} files: one `TaskResult` JSON per cell + "
             "`model_meta.json`); each condition is an mteb *experiment* (`condition_<name>`)."]
    if c.predictions:
        files.insert(2, f"- `data/predictions/<org__model>/<revision>/<condition>/<Task>.parquet`: "
                        f"{len(c.predictions)} files, each cell's item-level predictions (what the intervals are "
                        "computed from).")
    parts = [
        f"---\n{front}---\n", MARKER, "",
        "# Do instructions change what text-embedding models do?", "",
        f"Results of the instruction harness (on top of [mteb](https://github.com/embeddings-benchmark/mteb)): "
        f"{len(c.sidecars)} cells = {n_models} model(s) × {n_conds} condition(s) × {n_tasks} task(s). Each task is "
        "evaluated by mteb under each condition: `none` feeds the raw text, `format` only the model's format "
        "prefixes, `official` the model's official instruction in its template, and any other condition an "
        "instruction set. Deltas against `none` (and `format`) carry paired-bootstrap 95% CIs and permutation "
        "p-values Holm-adjusted within each model × kind of comparison.", "",
        "## Headline", "", headline.markdown(c.board, c.deltas), "",
        "## Loading", "",
        "```python\nimport datasets\n"
        "board = datasets.load_dataset(\"USER/NAME\", \"leaderboard\", split=\"train\")  # or a local folder\n"
        "deltas = datasets.load_dataset(\"USER/NAME\", \"deltas\", split=\"train\")\n"
        + ("preds = datasets.load_dataset(\"USER/NAME\", \"predictions\", split=\"train\")\n" if c.predictions else "")
        + "\nimport mteb  # the per-cell TaskResults, in mteb's own layout (download the folder first)\n"
        "results = mteb.ResultCache(\"THIS_FOLDER\").load_results(load_experiments=\"match_name\")\n```", "",
        "Push this folder to the Hugging Face Hub (huggingface_hub's CLI, after `hf auth login`):", "",
        "```bash\nhf upload USER/NAME THIS_FOLDER . --repo-type dataset\n```", "",
        "## Files", "", *files, "",
        "## Columns", "",
        "### `leaderboard`", "", _columns("leaderboard"),
        "### `deltas`", "", _columns("deltas"),
        *(["### `predictions`", "", _columns("predictions")] if c.predictions else []),
        "## Models", "", _models(c),
        "## Conditions and the exact instructions", "",
        "The exact prefix put before every text, per model, task and role; conditions that fed the same prefix share "
        "a row (`none = format` means the model has no format prefix there). Symmetric tasks (STS, bitext mining) "
        "give both texts the query side (`both`).", "",
        _instructions(c),
        "## Tasks", "", tasks_md,
        "## Licenses", "",
        f"- These results (tables, predictions, mteb result files): {LICENSE_NAME} (`{LICENSE}`).",
        "- Model weights are not part of this dataset; each model keeps its own license (see its card).",
        "- Task data is not part of this dataset; each task keeps its own license (table above).",
        *([f"- {GPL_TASK_NOTE}"] if gpl else []), "",
        "## Versions", "", _versions(c),
        "## Reproduce", "", _reproduce(c),
    ]
    return "\n".join(parts)
