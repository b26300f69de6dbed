"""Instruction files, conditions and the exact strings fed to models.

Golden tests compare, for every committed model file, every committed harness task (those the golden files list:
a task or set a user adds is never compared, so adding one keeps the suite green) and both roles:

- the exact prefix under none / format / official with ``tests/golden/instructions/<file>.json``
  (regenerate with ``HARNESS_UPDATE_GOLDEN=1 pytest tests/test_instructions.py``);
- the exact string the harness feeds (the real :class:`PromptedEncoder` over a recording embedder) with the
  string mteb's own wrapper feeds: mteb's registry loader and the wrapper's real ``encode`` run with
  ``SentenceTransformer`` replaced by a recorder that loads no weights
  (:func:`harness.prompts.export.recorder.mteb_fed`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.models.mock import MockEmbedder, mock_spec
from harness.prompts import files as ins
from harness.prompts import schema
from harness.prompts.conditions import Condition, Prompter
from harness.prompts.files import load_model_file, model_instructions
from harness.prompts.schema import InstructionSet, ModelInstructions
from harness.run.encoder import PromptedEncoder
from harness.taskspecs.local import TaskRegistry

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "instructions"
MODEL_FILES = ins.list_model_files()
TEXT = "Hallo Welt — hello world"

E5_SMALL = ModelInstructions.model_validate(
    {
        "model": "x/e5-like",
        "format_prefixes": {"query": "query: ", "document": "passage: ", "task_types": {"STS": {"query": ""}}},
        "unseen_task_rule": {"rule": "none", "derivation": "no instructions"},
    }
)
INSTRUCT = ModelInstructions.model_validate(
    {
        "model": "x/instruct",
        "template": {"query": "Instruct: {instruction}\nQuery: ", "document": None, "origin": "test"},
        "instruct_documents": False,
        "task_types": {"Retrieval": {"query": "Find it."}, "STS": {"query": "Same meaning."}},
        "tasks": {"SciFact": {"query": "Check the claim."}, "ArguAna": {}},
    }
)
BLOG = Condition(
    "blog",
    InstructionSet.model_validate(
        {
            "name": "blog",
            "description": "test",
            "tasks": {"R": {"query": "Q instr.", "document": "D instr."}, "S": {"query": "S instr."}},
        }
    ),
)


# -- conditions -----------------------------------------------------------------------------------------


def test_none_feeds_raw_text_and_format_only_prefixes() -> None:
    for recipe in (E5_SMALL, INSTRUCT):
        assert Prompter(recipe, Condition("none")).prompts_for("R", "Retrieval") == {"query": "", "document": ""}
    fmt = Prompter(E5_SMALL, Condition("format"))
    assert fmt.prompts_for("R", "Retrieval") == {"query": "query: ", "document": "passage: "}
    assert fmt.prompts_for("S", "STS") == {"query": "", "document": ""}  # symmetric: query side, overridden
    assert Prompter(INSTRUCT, Condition("format")).prompts_for("R", "Retrieval") == {"query": "", "document": ""}


def test_official_uses_task_entry_then_task_type_rule() -> None:
    p = Prompter(INSTRUCT, Condition("official"))
    assert p.prefix("SciFact", "Retrieval", "query") == "Instruct: Check the claim.\nQuery: "
    assert p.prefix("Unseen", "Retrieval", "query") == "Instruct: Find it.\nQuery: "
    assert p.prefix("Unseen", "Retrieval", "document") == ""  # documents withheld by the recipe
    assert p.prefix("ArguAna", "Retrieval", "query") == ""  # an empty task entry withholds the type's
    # symmetric: both texts get the query side
    assert p.prompts_for("T", "STS") == {"query": "Instruct: Same meaning.\nQuery: "} | {
        "document": "Instruct: Same meaning.\nQuery: "
    }
    none_rule = INSTRUCT.model_copy(update={"unseen_task_rule": schema.UnseenTaskRule(rule="none", derivation="x")})
    assert Prompter(none_rule, Condition("official")).prefix("Unseen", "Retrieval", "query") == ""


def test_sets_go_through_template_after_format_prefix_and_respect_documents() -> None:
    e5 = Prompter(E5_SMALL, BLOG)
    assert e5.prompts_for("R", "Retrieval") == {"query": "query: Q instr. ", "document": "passage: D instr. "}
    assert e5.prefix("S", "STS", "document") == "S instr. "  # symmetric: query side, STS format is ""
    assert e5.prefix("Other", "Retrieval", "query") == "query: "  # no instruction in the set: format only
    inst = Prompter(INSTRUCT, BLOG)
    assert inst.prompts_for("R", "Retrieval") == {"query": "Instruct: Q instr.\nQuery: ", "document": ""}


def test_default_recipe_for_models_without_a_file() -> None:
    recipe = model_instructions("nobody/never-exported")
    assert recipe.source.kind == "none"
    assert Prompter(recipe, Condition("official")).prompts_for("R", "Retrieval") == {"query": "", "document": ""}
    assert Prompter(recipe, BLOG).prompts_for("R", "Retrieval") == {"query": "Q instr. ", "document": "D instr. "}


# -- bad files ------------------------------------------------------------------------------------------

BAD = {
    "unknown key": ("model: x/y\ncolour: red\n", ":2: field 'colour': unknown key"),
    "template slot": (
        'model: x/y\ntemplate:\n  query: "Instruct: \\nQuery: "\n',
        ":3: field 'template.query': template must contain '{instruction}'",
    ),
    "other placeholder": (
        'model: x/y\ntemplate:\n  query: "{instruction} {text}"\n',
        ":3: field 'template.query': template has a placeholder other than {instruction}",
    ),
    "unknown task": (
        "model: x/y\ntasks:\n  SciFakt:\n    query: Check it.\n",
        ":3: field 'tasks.SciFakt': unknown task 'SciFakt'; did you mean SciFact",
    ),
    "unknown task type": (
        "model: x/y\ntask_types:\n  Retreival:\n    query: Find it.\n",
        ":3: field 'task_types.Retreival': unknown task type 'Retreival'; did you mean Retrieval",
    ),
    "empty instruction": (
        'model: x/y\ntask_types:\n  Retrieval:\n    query: "  "\n',
        ":4: field 'task_types.Retrieval.query': empty instruction",
    ),
    "wrong type": ('model: x/y\ninstruct_documents: "yes"\n', ":2: field 'instruct_documents': Input should be"),
    "wrong type nested": (
        "model: x/y\nformat_prefixes:\n  query: 3\n",
        ":3: field 'format_prefixes.query': Input should be a valid string",
    ),
    "symmetric document": (
        "model: x/y\ntask_types:\n  STS:\n    query: a\n    document: b\n",
        ":5: field 'task_types.STS.document': STS is symmetric",
    ),
    "withheld documents": (
        "model: x/y\ninstruct_documents: false\ntask_types:\n  Retrieval:\n    document: b\n",
        ":5: field 'task_types.Retrieval.document': instruct_documents is false",
    ),
    "no document template": (
        "model: x/y\ntemplate:\n  document: null\n",
        ":3: field 'template.document': instruct_documents is true",
    ),
    "bad rule": (
        "model: x/y\nunseen_task_rule:\n  rule: guess\n  derivation: x\n",
        ":3: field 'unseen_task_rule.rule': Input should be",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_model_files_fail_with_one_line_naming_file_line_and_field(case: str, tmp_path: Path) -> None:
    text, expected = BAD[case]
    path = tmp_path / "x__y.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HarnessError) as err:
        load_model_file(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(path)), msg
    assert expected in msg, msg


def test_validate_exits_2_on_a_bad_model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sets").mkdir()
    (tmp_path / "x__y.yaml").write_text("model: x/y\ntemplate:\n  query: no slot\n", encoding="utf-8")
    monkeypatch.setattr(ins, "INSTRUCTIONS_DIR", tmp_path)
    monkeypatch.setattr(ins, "SETS_DIR", tmp_path / "sets")
    assert main(["validate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'x__y.yaml'}:3: field 'template.query': template must contain '{{instruction}}'"


def test_file_name_must_match_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ins, "INSTRUCTIONS_DIR", tmp_path)
    path = tmp_path / "a__b.yaml"
    path.write_text("model: c/d\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"a__b.yaml:1: field 'model': 'c/d' belongs in c__d.yaml"):
        load_model_file(path)


def test_set_names_unknown_task_with_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\ndescription: d\ntasks:\n  TemperatureBySensaton:\n    query: q\n", encoding="utf-8"
    )
    with pytest.raises(HarnessError, match=r"mine.yaml:4: field 'tasks.TemperatureBySensaton': unknown task .*"
                                           r"did you mean TemperatureBySensation"):
        ins.validate_set(str(path))


# -- committed files ------------------------------------------------------------------------------------


def test_committed_files_validate_and_cover_the_required_models() -> None:
    names = {load_model_file(p).model for p in MODEL_FILES}
    required = {
        "sentence-transformers/all-MiniLM-L6-v2", "intfloat/multilingual-e5-small",
        "sentence-transformers/all-mpnet-base-v2", "tokenlearn-static-model/static-multilingual-64d",
        "dunzhang/stella_en_1.5B_v5", "dunzhang/stella_en_400M_v5", "Alibaba-NLP/gte-large-en-v1.5",
        "jinaai/jina-embeddings-v3", "nvidia/NV-Embed-v2", "intfloat/e5-mistral-7b-instruct",
        "intfloat/multilingual-e5-large-instruct", "Alibaba-NLP/gte-Qwen2-1.5B-instruct",
        "Qwen/Qwen3-Embedding-0.6B", "BAAI/bge-large-en-v1.5", "nomic-ai/nomic-embed-text-v1.5",
        "google/embeddinggemma-300m",
    }
    assert required <= names


def test_e5_small_keeps_format_prefixes_apart_from_instructions() -> None:
    recipe = model_instructions("intfloat/multilingual-e5-small")
    assert (recipe.format_prefixes.query, recipe.format_prefixes.document) == ("query: ", "passage: ")
    assert recipe.task_types == {} and recipe.tasks == {}


REFERENCE_GOLDEN = GOLDEN / "sentence-transformers__all-MiniLM-L6-v2.json"


def _harness_tasks() -> list[Any]:
    """The committed tasks: those the golden files list (regenerating them, the tasks now in tasks/)."""
    registry = TaskRegistry()
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        return registry.select(None)
    return [registry.get(name) for name in sorted(json.loads(REFERENCE_GOLDEN.read_text(encoding="utf-8"))["prefixes"])]


def _roles(task_type: str) -> list[str]:
    return ["query", "document"] if task_type in schema.ASYMMETRIC_TYPES else ["both"]


def _golden_for(recipe: ModelInstructions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for task in _harness_tasks():  # the committed tasks only
        out[task.name] = {"type": task.type}
        for role in _roles(task.type):
            side = "query" if role == "both" else role
            out[task.name][role] = {
                c: Prompter(recipe, Condition(c)).prefix(task.name, task.type, side)  # type: ignore[arg-type]
                for c in ins.BUILTIN_CONDITIONS
            }
    return {"model": recipe.model, "prefixes": out}


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.stem for p in MODEL_FILES])
def test_golden_prefixes(path: Path) -> None:
    recipe = load_model_file(path)
    got = _golden_for(recipe)
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run HARNESS_UPDATE_GOLDEN=1 pytest {__file__}"
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert got == expected, f"prefixes changed for {recipe.model}; if intended: HARNESS_UPDATE_GOLDEN=1 pytest"


def test_golden_files_cover_the_same_committed_tasks() -> None:
    """Every golden file lists the same tasks, and each is a valid task of tasks/ (the committed ones)."""
    listed = {p.stem: sorted(json.loads(p.read_text(encoding="utf-8"))["prefixes"]) for p in GOLDEN.glob("*.json")}
    assert {p.stem for p in MODEL_FILES} <= set(listed)
    reference = listed[REFERENCE_GOLDEN.stem]
    assert all(tasks == reference for tasks in listed.values()), "regenerate: HARNESS_UPDATE_GOLDEN=1 pytest"
    assert {"TemperatureBySensation", "DeEnTranslationRetrieval", "ScaleAge"} <= set(reference)
    assert set(reference) <= set(TaskRegistry().names())


def test_a_task_and_a_set_added_by_a_user_keep_the_golden_tests_green(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """README "Adding a task": a new task folder and a new set in the project must not break `make test`."""
    import shutil

    from tests import test_embeddinggemma

    tasks, sets = tmp_path / "tasks", tmp_path / "sets"
    shutil.copytree(ROOT / "tasks", tasks)
    shutil.copytree(ins.SETS_DIR, sets)
    mine = tasks / "MyWordTask"
    shutil.rmtree(mine, ignore_errors=True)  # the project may hold one already
    mine.mkdir()
    spec = (ROOT / "tasks" / "TemperatureBySensation" / "task.yaml").read_text(encoding="utf-8")
    (mine / "task.yaml").write_text(spec.replace("name: TemperatureBySensation", "name: MyWordTask"))
    shutil.copy(ROOT / "tasks" / "TemperatureBySensation" / "pairs.csv", mine / "pairs.csv")
    (sets / "mine.yaml").write_text("name: mine\ndescription: d\ntasks:\n  MyWordTask:\n    query: Feel it.\n")
    monkeypatch.setattr(TaskRegistry, "default_root", tasks)
    monkeypatch.setattr(ins, "SETS_DIR", sets)
    monkeypatch.delenv("HARNESS_UPDATE_GOLDEN", raising=False)
    assert "MyWordTask" in TaskRegistry().names() and "mine" in ins.list_conditions()
    for path in MODEL_FILES:
        test_golden_prefixes(path)
    test_embeddinggemma.test_golden_prompts()


def _harness_fed(recipe: ModelInstructions, condition: Condition, metadata: Any, prompt_type: Any) -> str:
    """The exact string the harness's PromptedEncoder hands the model for TEXT."""
    emb = MockEmbedder()
    enc = PromptedEncoder(emb, mock_spec(emb), Prompter(recipe, condition))
    enc.encode([{"text": [TEXT]}], task_metadata=metadata, hf_split="test", hf_subset="default",
               prompt_type=prompt_type)
    assert len(emb.encoded) == 1
    return emb.encoded[0]


def _prompt_types(task_type: str) -> list[Any]:
    from mteb.types import PromptType

    return [PromptType.query, PromptType.document] if task_type in schema.ASYMMETRIC_TYPES else [None]


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.stem for p in MODEL_FILES])
def test_harness_feeds_what_mteb_feeds(path: Path) -> None:
    """official == mteb's own wrapper's string; none == the raw text. Every harness task, both roles."""
    from harness.prompts.export import recorder

    recipe = load_model_file(path)
    wrapper = recorder.mteb_wrapper(recipe.model) if recipe.source.kind == "mteb" else None
    for task in _harness_tasks():
        metadata = task.mteb_task_class.metadata
        for pt in _prompt_types(task.type):
            assert _harness_fed(recipe, Condition("none"), metadata, pt) == TEXT
            fed = _harness_fed(recipe, Condition("official"), metadata, pt)
            expected = recorder.mteb_fed(wrapper, metadata, pt, TEXT)[0] if wrapper is not None else TEXT
            assert fed == expected, f"{recipe.model} {task.name} {pt}: harness {fed!r} != mteb {expected!r}"


INSTRUCT_FAMILY = [
    "intfloat/e5-mistral-7b-instruct", "intfloat/multilingual-e5-large-instruct", "nvidia/NV-Embed-v2",
    "Qwen/Qwen3-Embedding-0.6B", "Alibaba-NLP/gte-Qwen2-1.5B-instruct", "dunzhang/stella_en_400M_v5",
]


@pytest.mark.parametrize("model", INSTRUCT_FAMILY)
def test_instruction_sets_go_through_the_model_template_as_mteb_would(model: str) -> None:
    """A set's instruction, through the harness, equals mteb's string for a task whose prompt is that
    instruction (instruction wrappers use TaskMetadata.prompt for tasks they have no prompts_dict entry for)."""
    from mteb.abstasks.task_metadata import TaskMetadata

    from harness.prompts.export import recorder

    recipe = model_instructions(model)
    wrapper = recorder.mteb_wrapper(model)
    instr = {"query": "Classify a given temperature by its sensation.", "document": "Find the translation."}
    cond = Condition("mine", InstructionSet(name="mine", description="d", tasks={
        "SetProbeSTS": schema.RolePrompts(query=instr["query"]),
        "SetProbeRetrieval": schema.RolePrompts(**instr),
    }))
    for task_type, prompt in (("STS", instr["query"]), ("Retrieval", instr)):
        md = TaskMetadata(name=f"SetProbe{task_type}", description="d", dataset={"path": "p", "revision": "0"},
                          type=task_type, eval_langs=["eng-Latn"], main_score="x", prompt=prompt)
        for pt in _prompt_types(task_type):
            assert _harness_fed(recipe, cond, md, pt) == recorder.mteb_fed(wrapper, md, pt, TEXT)[0]


def test_mteb_tasks_in_files_reproduce_mteb() -> None:
    """Per-task entries (mteb tasks) give mteb's string too: a sample over three model families."""
    from harness.prompts.export import recorder

    for model in ("nvidia/NV-Embed-v2", "BAAI/bge-large-en-v1.5", "Qwen/Qwen3-Embedding-0.6B"):
        recipe = model_instructions(model)
        wrapper = recorder.mteb_wrapper(model)
        metas = recorder.mteb_text_tasks(tuple(recorder.supported_types()))
        own = [m for m in metas if m.name in recipe.tasks]
        sample = own[:25] + [m for m in metas if m.name not in recipe.tasks][:5]
        assert len(sample) >= 25
        for md in sample:
            for pt in _prompt_types(str(md.type)):
                fed = recorder.mteb_fed(wrapper, md, pt, TEXT)[0]
                assert _harness_fed(recipe, Condition("official"), md, pt) == fed


# -- ls instructions ------------------------------------------------------------------------------------


def test_ls_instructions_prints_exact_prefixes_with_repr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "instructions", "intfloat/e5-mistral-7b-instruct", "--conditions", "none,official"]) == 0
    out = capsys.readouterr().out
    assert "TemperatureBySensation" in out
    line = next(x for x in out.splitlines() if x.startswith("TemperatureBySensation") and "official" in x)
    assert line.split()[1] == "both"
    assert line.endswith("'Instruct: Retrieve semantically similar text.\\nQuery: '")


def test_ls_instructions_needs_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "instructions"]) == 2
    assert "name a model" in capsys.readouterr().err
