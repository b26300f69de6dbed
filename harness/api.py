"""The public functions; the CLI is a thin mirror of these."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError, Problems, unknown
from harness.models.resolve import DEFAULT_MODEL, resolve
from harness.models.spec import ModelSpec
from harness.prompts import files as instructions
from harness.prompts.conditions import Prompter, expand_conditions
from harness.prompts.files import list_conditions
from harness.prompts.schema import ASYMMETRIC_TYPES, ROLES, Role
from harness.run import local as runner
from harness.run.local import DEFAULT_RESULTS, RunSummary
from harness.taskspecs.local import LocalTask, TaskRegistry

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["add_search_dirs", "aggregate", "build_ding", "cache_info", "clear_cache", "compare", "export_instructions",
           "exported_models", "list_conditions", "list_instructions", "list_models", "list_plots", "list_tasks",
           "merge", "publish", "run", "try_instructions", "validate"]


EXECUTORS = ("local", "ray")


def run(
    models_: str | list[str | ModelSpec] = DEFAULT_MODEL,
    *,
    tasks: list[str] | None = None,
    conditions: list[str] | None = None,
    results_dir: Path = DEFAULT_RESULTS,
    batch_size: int = 32,
    progress: bool = True,
    threads: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    skip_invalid: bool = False,
    all_cells: bool = False,
    verbose: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 1.0,
    name: str | None = None,
    instructions_file: Path | None = None,
    benchmark: str | None = None,
    task_types: list[str] | None = None,
) -> RunSummary:
    """``conditions``: names (a variant set's plain name means all its variants); default: the built-in conditions
    and every set without variants (:func:`harness.prompts.files.default_conditions`). ``threads``: CPU threads for
    the model (torch; with Ray: per worker, default 1); ``cache_dir``: the embedding cache folder (default
    ``.cache/embeddings``; with Ray: on each worker's node); ``use_cache=False`` encodes everything and stores
    nothing. Every task, set and instruction file is checked before the first cell: invalid ones stop the run (all
    their problems at once), or are left out with ``skip_invalid``. ``all_cells`` also runs the cells of sets with
    no instruction for the task; ``verbose`` leaves the libraries' output on the console instead of
    ``<results>/logs/``. ``executor="ray"`` runs the grid on Ray (``harness.run.ray_executor``): a local instance
    sized to this machine, or the cluster at ``ray_address``; ``workers``: worker slots (default: what the
    cluster's resources allow), ``gpus_per_worker``: GPUs each worker asks for where the cluster has GPUs.
    ``name`` / ``instructions_file``: see :func:`resolve_models`. A task name that is no task folder is mteb's
    registry task of that name (text tasks; data from the local Hugging Face cache at its pinned revision, or
    downloaded with ``--online``: :mod:`harness.taskspecs.registry_tasks`); ``benchmark`` adds an mteb benchmark's
    text tasks (``MTEB(eng, v2)``), ``task_types`` keeps only the tasks of those types."""
    _check_executor(executor, {"--ray-address": ray_address, "--workers": workers})
    if batch_size < 1:
        raise HarnessError(f"--batch-size {batch_size}: must be at least 1")
    if threads is not None:
        if threads < 1:
            raise HarnessError(f"--threads {threads}: must be at least 1")
        if executor == "local":
            import torch

            torch.set_num_threads(threads)
    items: list[str | ModelSpec] = (
        [m.strip() for m in models_.split(",") if m.strip()] if isinstance(models_, str) else list(models_)
    )
    _not_empty("--model", items, "a model (e.g. --model minilm)")
    _not_empty("--tasks", tasks, "a task, or leave --tasks out to run every task")
    _not_empty("--conditions", conditions, "a condition, or leave --conditions out for the default ones")
    _not_empty("--task-types", task_types, "a task type, or leave --task-types out")
    tasks = select_tasks(tasks, benchmark=benchmark, task_types=task_types)
    if executor == "ray" and any(TaskRegistry().get(t).source != "local" for t in tasks or []):
        raise HarnessError("--executor ray runs task folders only; run mteb's registry tasks with --executor local")
    # Resolve every model up front: an unknown or missing one fails before anything is written.
    specs = resolve_models(items, name=name, instructions_file=instructions_file)
    cache: Path | bool = (cache_dir or True) if use_cache else False
    if executor == "ray":
        from harness.run import ray_executor

        return ray_executor.run(specs, tasks=tasks, conditions=conditions, results_dir=results_dir,
                                batch_size=batch_size, registry=TaskRegistry(), progress=progress, cache=cache,
                                threads=threads, ray_address=ray_address, workers=workers,
                                gpus_per_worker=gpus_per_worker, skip_invalid=skip_invalid, all_cells=all_cells)
    return runner.run(specs, tasks=tasks, conditions=conditions, results_dir=results_dir,
                      batch_size=batch_size, registry=TaskRegistry(), progress=progress, cache=cache,
                      skip_invalid=skip_invalid, all_cells=all_cells, verbose=verbose)


def _check_executor(executor: str, ray_options: dict[str, object]) -> None:
    """``--executor`` is one of :data:`EXECUTORS`; the command's Ray options (name → value, None or empty when not
    given) only with ``ray``."""
    if executor not in EXECUTORS:
        raise HarnessError(f"--executor {executor}: unknown executor; expected one of {', '.join(EXECUTORS)}")
    if executor == "local" and any(v is not None and v != "" for v in ray_options.values()):
        names = " and ".join(ray_options)
        raise HarnessError(f"{names} {'needs' if len(ray_options) == 1 else 'need'} --executor ray")


def select_tasks(tasks: list[str] | None, *, benchmark: str | None = None,
                 task_types: list[str] | None = None) -> list[str] | None:
    """The task names a run gets: ``tasks`` (None: every task folder), plus the text tasks of mteb benchmark
    ``benchmark``; with ``task_types``, only the tasks of those types (an unknown type raises)."""
    from harness.taskspecs.registry_tasks import TEXT_TYPES, benchmark_tasks

    for t in task_types or []:
        if t not in TEXT_TYPES:
            raise unknown("task type", t, TEXT_TYPES)
    if benchmark is not None:
        tasks = list(dict.fromkeys([*(tasks or []), *benchmark_tasks(benchmark, task_types)]))
    if task_types:
        reg = TaskRegistry()
        kept = [n for n in (tasks or reg.names()) if reg.get(n).type in task_types]
        if not kept:
            raise HarnessError(f"--task-types {','.join(task_types)}: none of the tasks is of that type")
        tasks = kept
    return tasks


def _not_empty(option: str, values: list[Any] | None, what: str) -> None:
    """An empty list (``--tasks ""``, ``--conditions ","``: e.g. an unset shell variable) is an error, not "all"."""
    if values is not None and not values:
        raise HarnessError(f"{option}: empty list (nothing between the commas); name {what}")


def resolve_models(models_: list[str | ModelSpec], *, name: str | None = None,
                   instructions_file: Path | None = None) -> list[ModelSpec]:
    """Resolve model names (bundled alias, Hub id, folder). ``name`` (``--name``): the name one local model folder
    goes by instead of ``local/<folder name>``. ``instructions_file`` (``--instructions``): an instruction file
    anywhere, used for the model its ``model:`` field names; given for one folder without ``name``, the folder
    takes that name (so ``--model ./my-e5 --instructions e5.yaml`` gets e5's prefixes and instructions)."""
    field = instructions.add_model_file(instructions_file) if instructions_file is not None else None
    if name is not None and field is not None and field != name:
        raise HarnessError(f"--instructions {instructions_file}: its model is '{field}', not --name '{name}'")
    if name is None and field is not None and len(models_) == 1 and isinstance(models_[0], str) \
            and Path(models_[0]).expanduser().is_dir():
        name = field
    if name is not None:
        if len(models_) != 1 or isinstance(models_[0], ModelSpec):
            raise HarnessError(f"--name {name}: give exactly one model folder")
        return [resolve(models_[0], as_name=name)]
    specs = [m if isinstance(m, ModelSpec) else resolve(m) for m in models_]
    if field is not None and field not in {s.name for s in specs}:
        raise HarnessError(f"--instructions {instructions_file}: its model '{field}' is none of "
                           f"{', '.join(s.name for s in specs)}")
    return specs


def try_instructions(
    model: str | ModelSpec = DEFAULT_MODEL,
    *,
    instructions: list[str],
    words: list[str] | None = None,
    pairs: Path | None = None,
    side: str = "both",
    batch_size: int = 32,
    threads: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    save: Path | None = None,
    task: str | None = None,
    set_name: str | None = None,
    name: str | None = None,
    instructions_file: Path | None = None,
) -> Any:
    """``harness try``: the cosine of each pair (the first word against every word, and/or the pairs of a CSV
    with ``sentence1,sentence2[,score]``) without and with each instruction, through the exact-prefix planner and
    the embedding cache of :func:`run`; with gold scores, each instruction's Spearman delta with its 95% CI
    (:mod:`harness.analysis.pair_deltas`). ``save``: also write a task folder and a set file that :func:`run`
    accepts (``save/tasks/<task>``, ``save/sets/<set_name>.yaml``). Returns a
    :class:`~harness.run.tryout.Tried` (``table()`` prints it; ``saved`` holds the written paths)."""
    from harness.analysis.pair_deltas import spearman_deltas
    from harness.run import tryout

    task, set_name = task or tryout.DEFAULT_TASK, set_name or tryout.DEFAULT_SET
    if threads is not None:
        if threads < 1:
            raise HarnessError(f"--threads {threads}: must be at least 1")
        import torch

        torch.set_num_threads(threads)
    chosen = tryout.make_pairs(words, pairs)
    tryout.instruction_set(instructions, task=task, name=set_name)  # bad input fails before the model loads
    if save is not None:
        tryout.save_check(chosen, side, save, task=task, set_name=set_name)
    spec = resolve_models([model], name=name, instructions_file=instructions_file)[0]
    tried = tryout.embed(spec, chosen, instructions, side=side, batch_size=batch_size,  # type: ignore[arg-type]
                         cache_dir=(cache_dir or True) if use_cache else False, task=task, set_name=set_name)
    if chosen.gold is not None:
        tried.deltas = spearman_deltas(chosen.text1, chosen.text2, chosen.gold, tried.cosines,
                                       seed_parts=(spec.identity, task))
    if save is not None:
        tried.saved = tryout.save(tried, save, task=task, set_name=set_name)
    return tried


def add_search_dirs(*, tasks: list[Path] | None = None, sets: list[Path] | None = None) -> None:
    """``--tasks-dir`` / ``--sets-dir``: task folders and instruction sets outside the checkout, searched after
    ``tasks/`` and ``instructions/sets/`` by every later call in this process and by its workers (they are added to
    ``HARNESS_TASKS_PATH`` / ``HARNESS_SETS_PATH``). A folder that does not exist is an error."""
    from harness.taskspecs.local import add_task_dirs

    if tasks:
        add_task_dirs(tasks)
    if sets:
        instructions.add_set_dirs(sets)


def cache_info(cache_dir: Path | None = None) -> tuple[Path, int, list[dict[str, Any]]]:
    """The embedding cache: (database file, bytes on disk, one row per cached model)."""
    from harness.run.cache import DB_NAME, EmbeddingCache, default_dir

    path = (cache_dir or default_dir()) / DB_NAME
    if not path.exists():  # nothing cached yet: report it without creating the database
        return path, 0, []
    with EmbeddingCache(cache_dir) as cache:
        return cache.path, cache.size_bytes(), cache.info()


def clear_cache(model: str | None, cache_dir: Path | None = None) -> int:
    """Delete the cached vectors of one model (alias, name or identity; every revision), or of all (None)."""
    from harness.run.cache import EmbeddingCache

    with EmbeddingCache(cache_dir) as cache:
        return cache.clear(model)


def aggregate(results_dir: Path = DEFAULT_RESULTS, *, multiplicity: str = "holm", executor: str = "local",
              ray_address: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild the parquet files, then redraw the figures (plots.py) from the artifacts on disk, then the
    report (``report.html`` + ``report.md``, report.py) and the sortable ``leaderboard.html``. ``multiplicity``:
    ``holm`` (default) or ``bh`` within each model × kind of comparison. ``executor="ray"``: the statistics as
    Ray tasks (:mod:`harness.run.ray_pool`) on a local instance sized to this machine or the cluster at
    ``ray_address`` — the same numbers as the local pool's, bit for bit."""
    from harness.analysis.aggregate import aggregate as aggregate_files
    from harness.core import timers
    from harness.report import build, leaderboard_page, plots
    from harness.results import staging
    from harness.stats.pool import JobExecutor

    _check_executor(executor, {"--ray-address": ray_address})
    if not results_dir.is_dir():
        raise HarnessError(f"{results_dir}: no such results folder; run `harness run` first")
    timers.reset()  # per-component CPU and wall seconds: `harness aggregate --timings`, make perf PERF_MODE=aggregate
    with contextlib.ExitStack() as stack:
        pool: JobExecutor | None = None
        if executor == "ray":
            from harness.run import ray_executor
            from harness.run.ray_pool import RayPool

            with timers.timed("Ray (connect or start)"):
                if ray_address:
                    ray_executor.check_address(ray_address)
                pool = RayPool(stack.enter_context(ray_executor.connect(ray_address)))
        with timers.timed(timers.AGGREGATE), staging.staged(results_dir) as stage:  # all or nothing: swapped in
            with timers.timed("tables (parquet)"):  # only when every output is written
                out = aggregate_files(results_dir, multiplicity_method=multiplicity, out=stage, stats_executor=pool)
            with timers.timed("figures: language plots"):
                plots.draw_language_plots(results_dir, out=stage)
            with timers.timed("report (report.html, report.md, its figures)"):
                build.build(results_dir, *out, out=stage)
            with timers.timed("leaderboard.html"):
                leaderboard_page.write(results_dir, *out, out=stage)
    for line in timers.lines():
        log.info("timing: %s", line)
    return out


def publish(out: Path, results_dir: Path = DEFAULT_RESULTS, *, with_predictions: bool = False) -> Any:
    """``harness publish OUT``: a Hugging Face dataset folder (card, parquet tables, mteb results tree) from a
    results folder whose tables are current and complete; refuses (one line) otherwise. Returns a summary with
    ``line()``."""
    from harness.publish import dataset

    return dataset.publish(results_dir, out, with_predictions=with_predictions)


def merge(sources: list[Path], into: Path, *, prefer: str | None = None) -> Any:
    """``harness merge DIR... --into DIR``: copy every cell of the sources into ``into`` (duplicates skipped;
    conflicts raise ``MergeConflict`` unless ``prefer`` is ``newest`` or ``first``), then aggregate ``into``.
    Returns the plan that was carried out (``line()``)."""
    from harness.publish import merge as merging

    plan = merging.merge(sources, into, prefer=prefer)  # type: ignore[arg-type]  # checked inside
    aggregate(into)
    return plan


def compare(results_dir: Path = DEFAULT_RESULTS, *, tasks: list[str] | None = None,
            models: list[str] | None = None, view: str = "deltas", baseline: str | None = None,
            conditions: list[str] | None = None) -> str:
    """``harness compare``: models × conditions side by side for the chosen tasks (main score), from the parquet
    files ``aggregate`` wrote. ``view``: ``deltas`` (each delta's 95% CI and Holm-adjusted p), ``decomposition``,
    ``paraphrase`` or ``ranks`` (:mod:`harness.analysis.views`). ``baseline``: any condition as the baseline of
    every delta shown, computed on demand with the same statistics and cache, Holm over the deltas shown
    (:mod:`harness.analysis.baseline`); ``conditions``: only these (a variant set's name: all its variants)."""
    from harness.analysis import views

    _not_empty("--tasks", tasks, "a task, or leave --tasks out for every task")
    _not_empty("--models", models, "a model, or leave --models out for every model")
    _not_empty("--conditions", conditions, "a condition, or leave --conditions out for every condition")
    return views.render(results_dir, view, tasks=tasks, models=models, baseline=baseline, conditions=conditions)


def compare_views(results_dir: Path = DEFAULT_RESULTS, views: list[str] | None = None) -> list[str]:
    """:func:`compare` of each of ``views`` (default: decomposition, paraphrase, ranks, family) over the whole
    folder, read once: what ``harness aggregate`` prints after its tables."""
    from harness.analysis import views as view_texts

    return view_texts.render_many(results_dir, views or ["decomposition", "paraphrase", "ranks", "family"])


def stale_lines(results_dir: Path = DEFAULT_RESULTS) -> list[str]:
    """What the last ``aggregate`` left out as stale (one line per cell, the commands that recompute them) and what
    it could not check."""
    from harness.analysis import currency

    return currency.read(results_dir).lines(results_dir)


def list_plots(results_dir: Path = DEFAULT_RESULTS) -> list[Path]:
    """The PNG figures under ``<results>/plots`` (drawn by ``aggregate``)."""
    from harness.report import plots

    return plots.list_plots(results_dir)


def build_ding(*, deb: Path | None = None, source: Path | None = None, tasks_dir: Path | None = None) -> list[str]:
    """``harness data ding``: download trans-de-en 1.9, extract the sentence pairs, write the translation tasks'
    data. Returns the report's lines."""
    from harness.taskspecs import ding

    return ding.build(deb=deb, source=source, tasks_dir=tasks_dir).lines()


def list_tasks(*, mteb: bool = False, task_type: str | None = None, lang: str | None = None) -> list[dict[str, str]]:
    """The task folders; with ``mteb``, mteb's registry text tasks instead (``task_type``, ``lang``: only those of
    that type / language, e.g. ``eng`` or ``eng-Latn``), each with whether it is cached offline and, per committed
    instruction file, the kind of instruction ``official`` gives it (:mod:`harness.prompts.official`)."""
    if mteb:
        from harness.taskspecs import registry_tasks

        return registry_tasks_rows(registry_tasks.text_task_names(), task_type=task_type, lang=lang)
    reg = TaskRegistry()
    return [
        {"name": t.name, "type": t.type, "subsets": ",".join(t.spec.subsets), "revision": t.data_hash[:12]}
        for t in reg.select(None) if (task_type is None or t.type == task_type)
    ]


KIND_SHORT = {"task": "task", "task_type": "type", "model_default": "default", "none": "-", None: "?"}


def registry_tasks_rows(names: list[str], *, task_type: str | None = None, lang: str | None = None
                        ) -> list[dict[str, str]]:
    from harness.prompts.official import official_kind
    from harness.taskspecs import registry_tasks

    if task_type is not None and task_type not in registry_tasks.TEXT_TYPES:
        raise unknown("task type", task_type, registry_tasks.TEXT_TYPES)
    cat = registry_tasks.catalogue()
    recipes = [instructions.load_model_file(p) for p in sorted(instructions.INSTRUCTIONS_DIR.glob("*.yaml"))]
    rows = []
    for name in names:
        e = cat[name]
        if task_type is not None and e["type"] != task_type:
            continue
        if lang is not None and lang not in e["languages"] and not any(
                lang in langs for langs in e["subsets"].values()):
            continue
        task = registry_tasks.RegistryTask(name, e)
        row = {"name": name, "type": e["type"], "languages": ",".join(e["languages"][:3])
               + (f",+{len(e['languages']) - 3}" if len(e["languages"]) > 3 else ""),
               "dataset": e["path"], "revision": e["revision"][:12],
               "cached": "yes" if task.local_copy() is not None else "no"}
        for r in recipes:
            row[r.model.split("/")[-1]] = KIND_SHORT[official_kind(r, name, e["type"])]
        rows.append(row)
    return rows


def broken_tasks() -> list[str]:
    """One line per task folder whose ``task.yaml`` is invalid (``harness ls tasks`` names them)."""
    return [line for e in TaskRegistry().broken.values() for line in e.lines()]


def list_models() -> list[dict[str, str]]:
    """Every bundled model: availability (ready / installable / missing), size, languages, dimension, recipe."""
    from harness.models.bundled import catalogue

    rows = []
    for row in catalogue():
        prefixes, official = instructions.recipe_summary(row["name"])
        head = {k: row[k] for k in ("alias", "status", "size", "dim", "languages")}
        rows.append({**head, "format prefixes": prefixes, "official instructions": official,
                     "name": row["name"], "revision": row["revision"]})
    return rows


def validate(paths: list[Path] | None = None) -> list[str]:
    """Validate every task spec (+ data), instruction set and model instruction file (or only ``paths``). Returns
    what was checked; raises :class:`~harness.core.errors.InputErrors` listing every problem of every file."""
    checked, problems = validate_report(paths)
    problems.raise_if_any()
    return checked


def validate_report(paths: list[Path] | None = None) -> tuple[list[str], Problems]:
    """``harness validate [PATH...]``: (the files that passed, every problem found — one line each with file,
    line and field). Nothing stops at the first problem. Without paths: every task, set and instruction file of
    the project."""
    from harness.run import preflight

    if paths:
        from harness.run.validation import validate_paths

        return validate_paths(paths)
    registry = TaskRegistry()
    inputs = preflight.check_inputs(registry, None, None, [], set_task_names=True)
    preflight.check_task_data(inputs, list(inputs.tasks))
    inputs.add_bad_tasks(preflight.check_tasks_for_mteb(inputs.tasks))
    problems = Problems()
    for name in sorted(inputs.bad_tasks):
        problems.add_all(inputs.bad_tasks[name])
    for name in sorted(inputs.bad_conditions):
        problems.add_all(inputs.bad_conditions[name])
    checked = [str(t.spec_path) for t in inputs.tasks if isinstance(t, LocalTask)]
    checked += [str(instructions.set_path(c.name)) for c in inputs.conditions if c.instruction_set is not None]
    for path in instructions.list_model_files():
        with problems.collect():
            instructions.load_model_file(path)
            checked.append(str(path))
    return checked, problems


def export_instructions(model: str, *, out: Path | None = None, check: bool = False) -> tuple[Path, bool]:
    """``harness instructions export``: write ``instructions/<org>__<model>.yaml`` from mteb's registry (no
    weights). With ``check``, write nothing and report whether the file differs. Returns (path, changed)."""
    from harness.prompts.export import recipe as export

    return export.export(model, out, check=check)


def exported_models() -> list[str]:
    """The models whose committed instruction files come from mteb's registry (re-exported by ``--all``)."""
    out = []
    for path in instructions.list_model_files():
        recipe = instructions.load_model_file(path)
        if recipe.source.kind == "mteb":
            out.append(recipe.model)
    return out


def list_instructions(model: str, conditions: list[str] | None = None) -> list[dict[str, str]]:
    """``harness ls instructions MODEL``: per harness task and role, the exact prefix each condition gives.

    ``model`` is a name with an instruction file (``intfloat/multilingual-e5-small``) or a bundled alias."""
    name = model
    from harness.models.bundled import BUNDLED

    _not_empty("--conditions", conditions, "a condition, or leave --conditions out for all of them")

    if not instructions.instruction_file(model).exists():
        if model in BUNDLED:
            name = BUNDLED[model].name
        elif "/" not in model and not Path(model).is_dir():
            # not a bundled alias, not a Hub id (org/name), not a folder: a typo, not a model without a file
            known = [*BUNDLED, *(instructions.load_model_file(p).model for p in instructions.list_model_files())]
            raise unknown("model", model, known)
    recipe = instructions.model_instructions(name)
    conds = expand_conditions(conditions or instructions.list_conditions())
    rows = []
    for task in TaskRegistry().select(None):
        # symmetric tasks (STS, bitext): both texts take the query side, listed once as role "both"
        roles = ROLES if task.type in ASYMMETRIC_TYPES else ("both",)
        for role in roles:
            for cond in conds:
                side: Role = "query" if role == "both" else role  # type: ignore[assignment]
                prefix = Prompter(recipe, cond).prefix(task.name, task.type, side)
                rows.append({"model": name, "task": task.name, "type": task.type, "role": role,
                             "condition": cond.name, "prefix": prefix})
    return rows

