"""The exporter: committed files are exactly what it produces from the pinned mteb; its CLI and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.prompts import files as ins
from harness.prompts.export import recipe as export

MTEB_FILES = [p for p in ins.list_model_files() if ins.load_model_file(p).source.kind == "mteb"]


def test_every_default_model_has_a_committed_exported_file() -> None:
    exported = {ins.load_model_file(p).model for p in MTEB_FILES}
    assert set(export.DEFAULT_MODELS) <= exported
    assert len(exported) >= 15


@pytest.mark.parametrize("path", MTEB_FILES, ids=[p.stem for p in MTEB_FILES])
def test_committed_file_equals_export_from_pinned_mteb(path: Path) -> None:
    import mteb

    recipe = ins.load_model_file(path)
    assert recipe.source.mteb_version == mteb.__version__, (
        f"{path.name} was exported from mteb {recipe.source.mteb_version}, installed is {mteb.__version__}: "
        "re-export with `harness instructions export --all`"
    )
    fresh = export.to_yaml(export.export_recipe(recipe.model), command=f"harness instructions export {recipe.model}")
    assert fresh == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from what the exporter gives now; re-export with "
        f"`harness instructions export {recipe.model}`"
    )


def test_exported_recipes_split_format_from_instructions() -> None:
    e5 = export.export_recipe("intfloat/multilingual-e5-small")
    assert (e5.format_prefixes.query, e5.format_prefixes.document) == ("query: ", "passage: ")
    assert e5.format_prefixes.task_types["STS"].query == ""  # mteb gives symmetric tasks no prompt type
    assert not e5.task_types and e5.unseen_task_rule.rule == "none"
    bge = export.export_recipe("BAAI/bge-large-en-v1.5")
    assert bge.format_prefixes.query == ""
    assert bge.task_types["Retrieval"].query == "Represent this sentence for searching relevant passages:"
    assert bge.template.query == "{instruction} " and not bge.instruct_documents
    gemma = export.export_recipe("google/embeddinggemma-300m")
    assert gemma.template.query == "task: {instruction} | query: "
    assert gemma.task_types["STS"].query == "sentence similarity"
    assert gemma.format_prefixes.document == "title: none | text: " and not gemma.instruct_documents
    nv = export.export_recipe("nvidia/NV-Embed-v2")
    assert nv.instruct_documents and nv.task_types["Retrieval"].document == "Retrieve text based on user query."
    jina = export.export_recipe("jinaai/jina-embeddings-v3")
    assert any("adapter" in x for x in jina.limitations)


def test_export_without_weights_or_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The exporter never builds a real SentenceTransformer (no weights, no Hub)."""
    import sentence_transformers

    class Refuse:
        def __init__(self, *a: object, **k: object) -> None:
            raise AssertionError("a real model was requested")

    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "__init__", Refuse.__init__)
    path, changed = export.export("Qwen/Qwen3-Embedding-0.6B", tmp_path / "q.yaml")
    assert changed and ins.load_model_file(path).template.query == "Instruct: {instruction}\nQuery:"


def test_cli_export_out_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e5.yaml"
    assert main(["instructions", "export", "intfloat/multilingual-e5-small", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == ins.instruction_file("intfloat/multilingual-e5-small").read_text(
        encoding="utf-8"
    )
    assert main(["instructions", "export", "intfloat/multilingual-e5-small", "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("passage: ", "doc: "), encoding="utf-8")
    assert main(["instructions", "export", "intfloat/multilingual-e5-small", "--out", str(out), "--check"]) == 1
    assert "differs" in capsys.readouterr().out


def test_unknown_and_unregistered_models_fail_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(HarnessError, match=r"not found in MTEB registry.*NovaSearch/stella_en_400M_v5"):
        export.export_recipe("NovaSearch/stella_en_400M_v4")
    assert main(["instructions", "export", "tokenlearn-static-model/static-multilingual-64d", "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hand-written file" in err


def test_hand_written_file_for_the_static_model() -> None:
    recipe = ins.model_instructions("tokenlearn-static-model/static-multilingual-64d")
    assert recipe.source.kind == "none"
    assert recipe.format_prefixes.query == "" and recipe.task_types == {}
