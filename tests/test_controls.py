"""Control conditions as data: the placebo, mismatched and paraphrase sets, variant sets (``<set>#<k>``) and the
exact prefixes they give."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from harness.core.errors import HarnessError
from harness.prompts import files as ins
from harness.prompts.conditions import Condition, Prompter, condition_order, expand_conditions, order_conditions
from harness.prompts.files import list_conditions, load_set, model_instructions
from harness.prompts.schema import InstructionSet, ModelInstructions, split_variant, variant_name
from tests.conftest import ROOT

SETS = ROOT / "instructions" / "sets"
PARAPHRASES = [f"paraphrase#{k}" for k in range(1, 6)]
PLACEBO = "Summarize the main opinion expressed in a given film review."
TEMPERATURE = "Classify a given temperature by its sensation."
TRANSLATION = "Retrieve semantically similar text. Between german and english translations."
E5 = ModelInstructions.model_validate(
    {"model": "x/e5-like", "format_prefixes": {"query": "query: ", "document": "passage: ",
                                               "task_types": {"STS": {"query": ""}}},
     "unseen_task_rule": {"rule": "none", "derivation": "no instructions"}})


def raw(name: str) -> dict[str, dict]:
    return yaml.safe_load((SETS / f"{name}.yaml").read_text(encoding="utf-8"))["tasks"]


def roles(entry: dict | list) -> list[set[str]]:
    return [set(e) for e in entry] if isinstance(entry, list) else [set(entry)]


# -- the committed sets -----------------------------------------------------------------------------------
def test_conditions_list_every_variant_in_order() -> None:
    german = [f"paraphrase_deu#{k}" for k in range(1, 6)]
    assert list_conditions() == ["none", "format", "official", "blog", "blog_deu#1", "mismatched", *PARAPHRASES,
                                 *german, "placebo"]
    for name in ("placebo", "mismatched", "paraphrase", "blog_deu", "paraphrase_deu"):
        ins.validate_set(name)  # task names, symmetric tasks without documents


def test_placebo_is_one_instruction_on_the_sides_blog_instructs() -> None:
    blog, placebo = raw("blog"), raw("placebo")
    assert set(placebo) == set(blog)  # every task, the seven Scale* tasks included
    assert {t: roles(e) for t, e in placebo.items()} == {t: roles(e) for t, e in blog.items()}
    assert {v for e in placebo.values() for v in e.values()} == {PLACEBO}
    lengths = [len(v) for e in blog.values() for v in e.values()]
    assert min(lengths) <= len(PLACEBO) <= max(lengths)  # comparable length


def test_paraphrases_cover_every_task_with_five_distinct_rewrites_of_blog() -> None:
    blog, para = raw("blog"), raw("paraphrase")
    assert set(para) == set(blog)
    by_original: dict[str, list[str]] = {}
    for task, variants in para.items():
        assert isinstance(variants, list) and len(variants) == 5, task
        assert roles(variants) == roles(blog[task]) * 5, task  # same sides as blog
        queries = [v["query"] for v in variants]
        assert len(set(queries)) == 5 and blog[task]["query"] not in queries, task
        for v in variants:  # documents get the same variant as their queries (as in blog)
            assert v.get("document", v["query"]) == v["query"]
        # tasks that share a blog instruction share its paraphrases
        assert by_original.setdefault(blog[task]["query"], queries) == queries, task
    assert len(by_original) == 10  # temperature, six other scales, translation, scale words, scale ends


def test_mismatched_file_is_the_scripts_output() -> None:
    done = subprocess.run([sys.executable, str(SETS / "make_mismatched.py"), "--check"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    script = _script()
    assert (SETS / "mismatched.yaml").read_text(encoding="utf-8") == script.build(
        (SETS / "blog.yaml").read_text(encoding="utf-8"))


def test_mismatched_gives_each_task_another_tasks_instruction() -> None:
    blog, mism = raw("blog"), raw("mismatched")
    assert set(mism) == set(blog)
    assert {t: roles(e) for t, e in mism.items()} == {t: roles(e) for t, e in blog.items()}
    for task, entry in mism.items():
        assert entry["query"] != blog[task]["query"], task
        assert entry["query"] in {e["query"] for e in blog.values()}
    assert mism["ScaleSize"]["query"] == TEMPERATURE  # issue 18: the temperature instruction on the size task
    assert mism["ScaleTemperature"]["query"] == blog["ScaleWeight"]["query"]
    assert mism["TemperatureBySensation"]["query"] == TRANSLATION
    assert mism["DeEnTranslationRetrieval"] == {"query": TEMPERATURE, "document": TEMPERATURE}


def test_mismatched_script_refuses_a_task_without_a_donor() -> None:
    text = (SETS / "blog.yaml").read_text(encoding="utf-8") + "  NewTask:\n    query: Do something new.\n"
    with pytest.raises(SystemExit, match="NewTask have no donor"):
        _script().build(text)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_mismatched", SETS / "make_mismatched.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- variants ---------------------------------------------------------------------------------------------
def test_variant_names() -> None:
    assert split_variant("paraphrase#3") == ("paraphrase", 3) and variant_name("paraphrase", 3) == "paraphrase#3"
    for name in ("blog", "x#", "x#0", "x#03", "x#two", "#2"):
        assert split_variant(name) == (name, None)
    assert split_variant("/tmp/my.set.yaml#2") == ("/tmp/my.set.yaml", 2)
    assert order_conditions(["paraphrase#10", "placebo", "paraphrase#2", "none", "blog"]) == [
        "none", "blog", "paraphrase#2", "paraphrase#10", "placebo"]
    assert condition_order("official") < condition_order("blog")


def test_each_variant_is_its_own_condition_with_its_exact_prefix() -> None:
    recipe = model_instructions("intfloat/multilingual-e5-small")
    para = load_set("paraphrase")
    assert para.n_variants == 5
    for k in range(1, 6):
        c = Condition.parse(f"paraphrase#{k}")
        assert c.name == f"paraphrase#{k}" and c.set_name == "paraphrase" and c.covers("ScaleAge")
        expected = raw("paraphrase")["DeEnTranslationRetrieval"][k - 1]["query"]
        assert Prompter(recipe, c).prompts_for("DeEnTranslationRetrieval", "Retrieval") == {
            "query": f"query: {expected} ", "document": f"passage: {expected} "}
    placebo = Prompter(recipe, Condition.parse("placebo"))
    assert placebo.prompts_for("EnDeTranslationRetrieval", "Retrieval") == {
        "query": f"query: {PLACEBO} ", "document": f"passage: {PLACEBO} "}
    minilm = model_instructions("sentence-transformers/all-MiniLM-L6-v2")
    assert Prompter(minilm, Condition.parse("mismatched")).prompts_for("ScaleSize", "STS") == {
        "query": f"{TEMPERATURE} ", "document": f"{TEMPERATURE} "}


def test_the_plain_name_of_a_variant_set_means_all_its_variants() -> None:
    names = [c.name for c in expand_conditions(["none", "paraphrase", "paraphrase#2", "blog"])]
    assert names == ["none", *PARAPHRASES, "blog"]


@pytest.mark.parametrize(("name", "message"), [
    ("paraphrase", "condition 'paraphrase': set 'paraphrase' has 5 variants; name one (paraphrase#1 … paraphrase#5)"),
    ("paraphrase#6", "condition 'paraphrase#6': set 'paraphrase' has variants 1..5"),
    ("blog#1", "condition 'blog#1': set 'blog' has no variants; use 'blog'"),
    ("paraphrse#2", "unknown condition 'paraphrse#2'"),
    ("paraphrase#0", "unknown condition 'paraphrase#0'"),
])
def test_bad_variant_names_fail_with_one_line(name: str, message: str) -> None:
    with pytest.raises(HarnessError) as err:
        Condition.parse(name)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    if name.startswith("paraphr") and "unknown" in message:
        assert "did you mean paraphrase#" in str(err.value)


def test_a_task_with_fewer_variants_is_not_in_the_longer_variants(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ndescription: d\ntasks:\n"
                    "  ScaleAge:\n    - query: one\n    - query: two\n    - query: three\n"
                    "  DeEnTranslationRetrieval:\n    - {query: q1, document: d1}\n", encoding="utf-8")
    s = load_set(str(path))
    assert s.n_variants == 3
    assert [c.name for c in expand_conditions([str(path)])] == ["mine#1", "mine#2", "mine#3"]
    third = Condition.parse(f"{path}#3")
    assert third.name == "mine#3" and third.covers("ScaleAge") and not third.covers("DeEnTranslationRetrieval")
    first = Prompter(E5, Condition.parse(f"{path}#1"))
    assert first.prompts_for("DeEnTranslationRetrieval", "Retrieval") == {"query": "query: q1 ",
                                                                          "document": "passage: d1 "}
    # not in this variant: the format prefix alone, as for any set that says nothing about a task
    assert Prompter(E5, third).prompts_for("DeEnTranslationRetrieval", "Retrieval") == {
        "query": "query: ", "document": "passage: "}
    with pytest.raises(ValueError, match="has variants"):
        s.entry("ScaleAge")


BAD_SETS = {
    "mixed": ("  ScaleAge:\n    query: one\n  ScaleSize:\n    - query: two\n",
              ":4: field 'tasks.ScaleAge': the set gives other tasks lists of variants (ScaleSize)"),
    "empty list": ("  ScaleAge: []\n", ":4: field 'tasks.ScaleAge': List should have at least 1 item"),
    "empty variant": ("  ScaleAge:\n    - query: one\n    - query: ' '\n",
                      ":6: field 'tasks.ScaleAge.1.query': empty instruction"),
    "unknown key": ("  ScaleAge:\n    - query: one\n      colour: red\n",
                    ":6: field 'tasks.ScaleAge.0.colour': unknown key"),
    "symmetric document": ("  ScaleAge:\n    - query: one\n    - query: two\n      document: three\n",
                           ":7: field 'tasks.ScaleAge.1.document': task 'ScaleAge' is STS (symmetric)"),
    "not a list or mapping": ("  ScaleAge: just text\n", ":4: field 'tasks.ScaleAge': Input should be a valid"),
}


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_bad_variant_sets_fail_with_one_line_naming_file_line_and_field(case: str, tmp_path: Path) -> None:
    body, expected = BAD_SETS[case]
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ndescription: d\ntasks:\n" + body, encoding="utf-8")
    with pytest.raises(HarnessError) as err:
        ins.validate_set(str(path))
    msg = str(err.value)
    assert msg.startswith(str(path)) and "\n" not in msg and expected in msg, msg


def test_a_plain_set_keeps_its_plain_entries() -> None:
    s = InstructionSet.model_validate({"name": "p", "description": "d", "tasks": {"ScaleAge": {"query": "q"}}})
    assert s.n_variants == 0 and s.entry("ScaleAge") is not None and s.entry("ScaleSize") is None
    with pytest.raises(ValueError, match=r"has variants 1\.\.0"):
        s.variant(1)


def test_a_run_with_no_conditions_named_leaves_variant_sets_out() -> None:
    from harness.prompts.files import default_conditions

    assert default_conditions() == ["none", "format", "official", "blog", "mismatched", "placebo"]
    assert set(default_conditions()) < set(list_conditions())
