"""Export a model's official prompting recipe from mteb's registry into ``instructions/<org>__<model>.yaml``.

mteb keeps the recipe in code: ``ModelMeta.loader`` (the wrapper class) and ``loader_kwargs``
(``model_prompts``, ``prompts_dict``, ``instruction_template``, ``apply_instruction_to_passages``), each
task's ``TaskMetadata.prompt`` and the abstract tasks' default prompts (``AbsTask*.abstask_prompt``). No
single value says what a model is fed, so the exporter asks mteb itself, without weights:

1. mteb's own loader runs with ``sentence_transformers.SentenceTransformer`` replaced by a recorder
   (:class:`RecordingSentenceTransformer`) that loads nothing. Every mteb wrapper then is a real instance
   with its real settings; the recorder keeps the model's own sentence-transformers prompts where mteb relies
   on them (``BUILTIN_PROMPTS``) and resolves prompts with sentence-transformers' own code.
2. The wrapper's real ``encode`` runs on one sentinel text for every task type the harness supports (a task
   mteb has never seen, like the harness's own tasks) and every mteb text task of those types, per prompt
   type. What reaches the recorder is the exact string mteb feeds the model (:func:`mteb_prefix`).
3. Those strings are split into format prefix, template and instruction: instruction wrappers
   (``InstructSentenceTransformerModel`` and its kin) by mteb's own ``get_instruction`` and their
   ``instruction_template``; prompt-dictionary wrappers (``SentenceTransformerEncoderWrapper``, nomic, jina)
   by a rule: a one-word label and a colon (``query: ``, ``search_document: ``) is a format prefix, a known
   template (``TEMPLATE_PATTERNS``) yields its instruction, any other text is an instruction.
4. Before anything is written, the recipe is read back through :class:`harness.instructions.Prompter` and
   every probed string must come out identical; otherwise the export fails.

The written file is deterministic: exporting twice, or on another machine with the same mteb, gives the same
bytes (``tests/test_export.py`` re-exports every committed file and compares).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.prompts.conditions import Condition, Prompter
from harness.prompts.export.recorder import (
    BUILTIN_PROMPTS,
    get_meta,
    mteb_prefix,
    mteb_text_tasks,
    mteb_wrapper,
    prompt_types,
    qualname,
    quiet,
    registry_entry,
    supported_types,
    unseen_task,
)
from harness.prompts.files import instruction_file
from harness.prompts.schema import (
    ASYMMETRIC_TYPES,
    DEFAULT_TEMPLATE,
    FormatPrefixes,
    FormatRoles,
    ModelInstructions,
    Role,
    RolePrompts,
    Source,
    Template,
    UnseenTaskRule,
    side_of,
)

configure()

import mteb  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.models.instruct_wrapper import InstructSentenceTransformerModel  # noqa: E402
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper  # noqa: E402
from mteb.types import PromptType  # noqa: E402

log = logging.getLogger(__name__)

# Prompt strings of prompt-dictionary models that the generic rule (a one-word label and a colon is a format
# prefix, any other text an instruction) would split wrongly: known templates per side, known format prefixes.
TEMPLATE_PATTERNS: dict[str, dict[str, str]] = {
    # mteb's EmbeddingGemma recipe notes: query / symmetric input "task: {instruction} | query: {text}"
    "google/embeddinggemma-300m": {"query": "task: {instruction} | query: "},
}
KNOWN_FORMATS: dict[str, tuple[str, ...]] = {
    # ... and document side "title: {title} | text: {text}", title "none" when the corpus has none. On Reranking
    # mteb's lookup (task type before prompt type) gives documents the type's query-side prompt; it is kept as
    # that type's document format prefix (fed under format, official and every set), not as an instruction, so
    # instruction sets leave documents as they are on Retrieval (instruct_documents stays false). The same on
    # InstructionRetrieval, whose type prompt in the model's dictionary is "task: code retrieval | query: "
    "google/embeddinggemma-300m": ("title: none | text: ", "task: search result | query: ",
                                   "task: code retrieval | query: "),
}

# The committed files: bundled models and instruction models (see instructions/).
DEFAULT_MODELS = (
    "sentence-transformers/all-MiniLM-L6-v2",
    "intfloat/multilingual-e5-small",
    "sentence-transformers/all-mpnet-base-v2",
    "dunzhang/stella_en_1.5B_v5",
    "dunzhang/stella_en_400M_v5",
    "Alibaba-NLP/gte-large-en-v1.5",
    "jinaai/jina-embeddings-v3",
    "nvidia/NV-Embed-v2",
    "intfloat/e5-mistral-7b-instruct",
    "intfloat/multilingual-e5-large-instruct",
    "Alibaba-NLP/gte-Qwen2-1.5B-instruct",
    "Qwen/Qwen3-Embedding-0.6B",
    "BAAI/bge-large-en-v1.5",
    "nomic-ai/nomic-embed-text-v1.5",
    "google/embeddinggemma-300m",
)
PROMPT_KWARGS = (
    "model_prompts",
    "prompts_dict",
    "instruction_template",
    "apply_instruction_to_passages",
    "prompt_priority",
)
LABEL = re.compile(r"[A-Za-z_]+: ?")


# -- decomposition ------------------------------------------------------------------------------------------


def _template_of(template: Any, prompt_type: PromptType | None) -> str | None:
    """A string template from mteb's instruction_template (None, str or callable); None: no instruction slot."""
    if template is None:
        return "{instruction}"
    if isinstance(template, str):
        return template
    marker = "\ue001instruction\ue001"
    out = template(marker, prompt_type)
    if marker not in out:
        return None
    if "{" in out.replace(marker, "") or "}" in out.replace(marker, ""):
        raise HarnessError(f"mteb template {qualname(template)} yields braces; not expressible as a template")
    return out.replace(marker, "{instruction}")


def _match_template(template: str, prefix: str) -> str | None:
    head, _, tail = template.partition("{instruction}")
    if prefix.startswith(head) and prefix.endswith(tail) and len(prefix) > len(head) + len(tail):
        return prefix[len(head) : len(prefix) - len(tail)]
    return None


class _Split:
    """One mteb prefix split into (format prefix, instruction, template)."""

    def __init__(self, fmt: str = "", instruction: str | None = None, template: str | None = None):
        self.format = fmt
        self.instruction = instruction
        self.template = template


def _split_prompt(model: str, side: Role, prefix: str) -> _Split:
    """Split a prompt-dictionary model's prefix into format prefix or instruction + template."""
    if prefix == "":
        return _Split()
    pattern = TEMPLATE_PATTERNS.get(model, {}).get(side)
    if pattern is not None:
        instr = _match_template(pattern, prefix)
        if instr is not None:
            return _Split(instruction=instr, template=pattern)
    if LABEL.fullmatch(prefix) or not prefix.strip() or prefix in KNOWN_FORMATS.get(model, ()):
        return _Split(fmt=prefix)
    instr = prefix.rstrip()
    return _Split(instruction=instr, template="{instruction}" + prefix[len(instr) :])


class _Probes:
    """mteb's prefix for every (task, side) the exporter looks at."""

    def __init__(self, wrapper: Any, type_names: list[str]):
        self.wrapper = wrapper
        self.type_names = type_names
        self.unseen: dict[tuple[str, Role], str] = {}
        self.adapters: dict[tuple[str, Role], Any] = {}
        self.tasks: dict[tuple[str, Role], str] = {}
        self.task_types: dict[str, str] = {}
        for t in type_names:
            md = unseen_task(t).metadata
            for side, pt in prompt_types(t):
                self.unseen[(t, side)], self.adapters[(t, side)] = mteb_prefix(wrapper, md, pt)
        self._by_name = {md.name: md for md in mteb_text_tasks(tuple(type_names))}
        self.failed: dict[str, str] = {}  # mteb tasks on which mteb's own wrapper fails → why
        for md in self._by_name.values():
            try:
                got = {side: mteb_prefix(wrapper, md, pt)[0] for side, pt in prompt_types(str(md.type))}
            except TypeError as e:  # e.g. a dict prompt handed to the model as is (TERRa.V2 with stella)
                self.failed[md.name] = f"{e.__class__.__name__}: {e}"
                continue
            self.task_types[md.name] = str(md.type)
            self.tasks.update({(md.name, side): p for side, p in got.items()})

    def metadata(self, task: str) -> TaskMetadata:
        return self._by_name[task]


def _roles(values: dict[Role, str | None]) -> RolePrompts | None:
    clean = {k: v for k, v in values.items() if v}
    return RolePrompts(**clean) if clean else None


def _from_instruct_wrapper(model: str, wrapper: Any, probes: _Probes) -> dict[str, Any]:
    """InstructSentenceTransformerModel family: instructions by mteb's get_instruction, its template."""
    tpl = wrapper.instruction_template
    query_t = _template_of(tpl, PromptType.query)
    symmetric_t = _template_of(tpl, None)
    document_t = _template_of(tpl, PromptType.document) if wrapper.apply_instruction_to_passages else None
    if query_t is None:
        raise HarnessError(f"model '{model}': mteb's template gives queries no instruction; nothing to export")
    if symmetric_t != query_t:
        raise HarnessError(f"model '{model}': mteb's template differs for symmetric tasks and queries")
    instruct_documents = document_t is not None

    def instruction(md: TaskMetadata, side: Role, pt: PromptType | None) -> str | None:
        if side == "document" and not instruct_documents:
            return None
        with quiet():
            got = wrapper.get_instruction(md, pt) or None
        if got is None or isinstance(got, str):
            return got
        # a dict prompt on a symmetric task (TERRa.V2): some templates render its repr, others its query entry;
        # keep what mteb feeds (the probed prefix shows which)
        fed = probes.tasks.get((md.name, side), "")
        return str(got) if str(got) in fed else got.get("query") or None

    def resolve(md: TaskMetadata, task_type: str) -> dict[Role, str | None]:
        return {side: instruction(md, side, pt) for side, pt in prompt_types(task_type)}

    type_level = {t: resolve(unseen_task(t).metadata, t) for t in probes.type_names}
    tasks = {}
    for name, task_type in probes.task_types.items():
        got = resolve(probes.metadata(name), task_type)
        if got != type_level[task_type]:
            tasks[name] = got
    origin = (
        "mteb: no instruction_template, the instruction is used as is"
        if tpl is None
        else f"mteb: instruction_template {tpl!r}" if isinstance(tpl, str)
        else f"mteb: instruction_template {qualname(tpl)} (a function; as it renders per prompt type)"
    )
    return {
        "template": Template(query=query_t, document=document_t, origin=origin),
        "format_prefixes": FormatPrefixes(),
        "instruct_documents": instruct_documents,
        "task_types": type_level,
        "tasks": tasks,
        "derivation": (
            "mteb's InstructSentenceTransformerModel.get_instruction for a task without TaskMetadata.prompt: "
            "prompts_dict[task type], else prompts_dict[prompt type], else the abstract task's default prompt "
            "(AbsTask*.abstask_prompt); then the template"
            + (
                ""
                if instruct_documents
                else "; documents get none (apply_instruction_to_passages is false)"
                if not wrapper.apply_instruction_to_passages
                else "; documents get none (the template renders nothing for documents)"
            )
        ),
    }


def _from_prompt_wrapper(model: str, probes: _Probes) -> dict[str, Any]:
    """Prompt-dictionary family (SentenceTransformerEncoderWrapper, nomic, jina): split mteb's prefixes."""
    templates: dict[Role, str] = {}
    fmt: dict[tuple[str, Role], str] = {}

    def split(side: Role, prefix: str, where: str) -> _Split:
        s = _split_prompt(model, side, prefix)
        if s.template is not None and templates.setdefault(side, s.template) != s.template:
            raise HarnessError(
                f"model '{model}': {side} prompts use two templates ({templates[side]!r}, {s.template!r}) "
                f"at {where}; not expressible"
            )
        return s

    type_level: dict[str, dict[Role, str | None]] = {}
    for t in probes.type_names:
        type_level[t] = {}
        for side, _ in prompt_types(t):
            s = split(side, probes.unseen[(t, side)], f"task type {t}")
            fmt[(t, side)] = s.format
            type_level[t][side] = s.instruction
    tasks: dict[str, dict[Role, str | None]] = {}
    for name, task_type in probes.task_types.items():
        sides = prompt_types(task_type)
        if all(probes.tasks[(name, side)] == probes.unseen[(task_type, side)] for side, _ in sides):
            continue
        entry: dict[Role, str | None] = {}
        for side, _ in sides:
            s = split(side, probes.tasks[(name, side)], f"task {name}")
            if s.format != fmt[(task_type, side)]:
                raise HarnessError(f"model '{model}': task {name} has its own format prefix; not expressible")
            entry[side] = s.instruction
        tasks[name] = entry
    instructed_docs = any(v.get("document") for v in [*type_level.values(), *tasks.values()])
    instructed_queries = any(v.get("query") for v in [*type_level.values(), *tasks.values()])
    # Documents are withheld instructions only where queries get some and documents none.
    instruct_documents = instructed_docs or not instructed_queries
    query_t = templates.get("query", DEFAULT_TEMPLATE)
    document_t = templates.get("document", query_t) if instruct_documents else None
    official = bool(templates)
    origin = (
        "mteb: the instruction prompts of the model's prompt dictionary, as '{instruction}' + their trailing "
        "whitespace" + (f" ({TEMPLATE_PATTERNS[model]})" if model in TEMPLATE_PATTERNS else "")
        if official
        else "harness default: the model has no official instructions, so instruction sets use "
        "'{instruction} ' after the format prefix"
    )
    # Defaults from the asymmetric type (mteb's query / document prompts); overrides where a type differs.
    # Retrieval first: the other asymmetric types (Reranking, sorted before it) differ from it by overrides
    base = "Retrieval" if "Retrieval" in probes.type_names else next(
        (t for t in probes.type_names if t in ASYMMETRIC_TYPES), None)
    default_q = fmt[(base, "query")] if base else ""
    default_d = fmt[(base, "document")] if base else ""
    defaults = FormatPrefixes(query=default_q, document=default_d)
    overrides: dict[str, FormatRoles] = {}
    for t in probes.type_names:
        diff = {
            side: fmt[(t, side)] for side, _ in prompt_types(t) if fmt[(t, side)] != defaults.get(t, side)
        }
        if diff:
            overrides[t] = FormatRoles(**diff)
    return {
        "template": Template(query=query_t, document=document_t, origin=origin),
        "format_prefixes": FormatPrefixes(query=default_q, document=default_d, task_types=overrides),
        "instruct_documents": instruct_documents,
        "task_types": type_level,
        "tasks": tasks,
        "derivation": (
            "mteb's prompt lookup (mteb.models.abs_encoder.get_prompt_name, as the wrapper uses it) for a task "
            "it has never seen: the prompt of the task type, else of the prompt type; symmetric tasks have no "
            "prompt type"
        ),
    }


def _prompt_settings(meta: Any, wrapper: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"wrapper": qualname(type(wrapper))}
    kwargs = dict(meta.loader_kwargs or {})
    for key in PROMPT_KWARGS:
        if key in kwargs:
            value = kwargs[key]
            out[key] = qualname(value) if callable(value) else value
        elif key in ("instruction_template", "apply_instruction_to_passages") and isinstance(
            wrapper, InstructSentenceTransformerModel
        ):
            value = getattr(wrapper, key)
            out[key] = qualname(value) if callable(value) else value
    prompts = getattr(type(wrapper), "jina_task_to_prompt", None)
    if prompts:
        out["jina_task_to_prompt"] = dict(prompts)
    return out


def export_recipe(model: str) -> ModelInstructions:
    """The recipe of ``model`` as mteb applies it (see the module docstring); verified before it is returned."""
    with quiet():
        return _export_recipe(model)


def _export_recipe(model: str) -> ModelInstructions:
    entry, alias_why, same_repo = registry_entry(model)
    meta = get_meta(model)
    wrapper = mteb_wrapper(model)
    type_names = supported_types()
    probes = _Probes(wrapper, type_names)
    if isinstance(wrapper, InstructSentenceTransformerModel):
        parts = _from_instruct_wrapper(model, wrapper, probes)
    elif isinstance(wrapper, SentenceTransformerEncoderWrapper):
        parts = _from_prompt_wrapper(model, probes)
    else:
        raise HarnessError(f"model '{model}': the exporter does not know mteb's wrapper {qualname(type(wrapper))}")

    notes = []
    if alias_why:
        notes.append(f"registry entry {entry}: {alias_why}")
    builtin = BUILTIN_PROMPTS.get(meta.name)
    uses_builtin = isinstance(wrapper, SentenceTransformerEncoderWrapper) and not (meta.loader_kwargs or {}).get(
        "model_prompts"
    )
    if uses_builtin and builtin is None:
        notes.append(
            "mteb passes no model_prompts, so the model's own sentence-transformers prompts would apply; "
            "taken to be none (config_sentence_transformers.json is not in mteb's registry)"
        )
    if isinstance(wrapper, InstructSentenceTransformerModel):
        notes.append(
            "texts without an instruction are fed bare, taking the model's default_prompt_name to be unset "
            "(config_sentence_transformers.json is not in mteb's registry)"
        )
    limitations = []
    adapters = {k: v for k, v in probes.adapters.items() if v is not None}
    if adapters:
        listed = ", ".join(f"{t}/{side}: {a}" for (t, side), a in sorted(adapters.items()))
        limitations.append(
            f"mteb's wrapper also selects a task adapter per task type ({listed}); the harness feeds text "
            "only and does not select adapters"
        )
    if probes.failed:
        limitations.append(
            f"mteb's own wrapper fails on {', '.join(sorted(probes.failed))} "
            f"({'; '.join(sorted(set(probes.failed.values())))}); the harness gives them the task-type entry")
    task_types = {t: rp for t, v in parts["task_types"].items() if (rp := _roles(v)) is not None}
    # a task entry replaces the task-type entry, so an entry without instructions is kept (it withholds them)
    tasks = {n: _roles(v) or RolePrompts() for n, v in sorted(parts["tasks"].items())}
    official_any = bool(task_types) or any(rp.query or rp.document for rp in tasks.values())
    recipe = ModelInstructions(
        model=model,
        revision=meta.revision if same_repo else None,
        source=Source(
            kind="mteb",
            mteb_version=mteb.__version__,
            registry_entry=entry,
            registry_revision=meta.revision,
            loader=qualname(meta.loader),
            reference=(str(meta.reference) if meta.reference else None) if same_repo
            else f"https://huggingface.co/{model}",
            prompt_settings=_prompt_settings(meta, wrapper),
            builtin_prompts=dict(builtin[0]) if builtin and uses_builtin else None,
            builtin_prompts_source=builtin[1] if builtin and uses_builtin else None,
            notes=notes,
        ),
        template=parts["template"],
        format_prefixes=parts["format_prefixes"],
        instruct_documents=parts["instruct_documents"],
        unseen_task_rule=UnseenTaskRule(
            rule="task_type" if official_any else "none",
            derivation=parts["derivation"] if official_any else "the model has no official instructions",
        ),
        task_types=task_types,
        limitations=limitations,
        tasks=tasks,
    )
    verify(recipe, probes)
    return recipe


def verify(recipe: ModelInstructions, probes: _Probes) -> None:
    """Every probed mteb prefix must equal what the harness resolves from the recipe under ``official``."""
    prompter = Prompter(recipe, Condition("official"))
    checks = [(f"<unseen {t}>", t, side, p) for (t, side), p in probes.unseen.items()]
    checks += [(n, probes.task_types[n], side, p) for (n, side), p in probes.tasks.items()]
    for task, task_type, side, expected in checks:
        got = prompter.prefix(task, task_type, side)
        if got != expected:
            raise HarnessError(
                f"model '{recipe.model}': exported recipe gives {got!r} for {task} ({side}), mteb feeds "
                f"{expected!r}; the exporter cannot express this recipe"
            )
        if side_of(task_type, side) != side:
            raise HarnessError(f"internal: side {side} for symmetric type {task_type}")


# -- writing ------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    quoted = value == "" or value != value.strip() or "\n" in value or "{" in value or "\ue000" in value
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if quoted else None)


_Dumper.add_representer(str, _str)


def to_yaml(recipe: ModelInstructions, *, command: str) -> str:
    """The file text: a header comment and the recipe, keys in schema order, stable quoting."""
    data = recipe.model_dump(mode="json", exclude_none=True)
    data["template"] = recipe.template.model_dump(mode="json")  # document: null is meaningful
    data["revision"] = recipe.revision
    ordered = {k: data[k] for k in ModelInstructions.model_fields if k in data}
    body = yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    src = recipe.source
    header = (
        f"# {recipe.model}: prompting recipe exported from mteb {src.mteb_version} "
        f"(registry entry {src.registry_entry}) by `{command}`.\n"
        "# Do not edit: re-export. tests/test_export.py fails when this file and the exporter disagree.\n"
        "# Conditions: none = raw text; format = format_prefixes; official = format prefix + template with the\n"
        "# instruction of `tasks` (mteb tasks) or, for any other task, of `task_types` (unseen_task_rule).\n"
    )
    return header + body


def export(model: str, out: Path | None = None, *, check: bool = False) -> tuple[Path, bool]:
    """Write (or with ``check``, compare) the file for ``model``. Returns (path, whether it changed)."""
    recipe = export_recipe(model)
    text = to_yaml(recipe, command=f"harness instructions export {model}")
    path = out or instruction_file(model)
    old = path.read_text(encoding="utf-8") if path.exists() else None
    changed = old != text
    if not check and changed:
        atomic.write_text(path, text)
        path.chmod(0o644)  # a data file to commit, not a private temporary file
    return path, changed
