"""mteb's own registry tasks (harness/taskspecs/registry_tasks.py): a real one (BIOSSES) end to end offline from a
Hugging Face cache the test writes, the one-line failure for an uncached one, ``official`` = mteb's string with
its ``official_kind``, the dataset revision in the cell key, and ``harness ls tasks --mteb``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from harness import api
from harness.analysis.tables import delta_table
from harness.cli import main
from harness.core.errors import HarnessError
from harness.models.mock import MockEmbedder, mock_spec, mock_vector
from harness.models.spec import ModelSpec
from harness.prompts.conditions import Condition
from harness.prompts.files import model_instructions
from harness.prompts.official import official_kind
from harness.run.grid import plan
from harness.taskspecs import registry_tasks
from harness.taskspecs.local import TaskRegistry

ROOT = Path(__file__).resolve().parent.parent
BIOSSES_REVISION = "d3fb88f8f02e40887cd149695127462bbcf29b4a"  # mteb 2.26.24's pin (tasks/sts/eng/biosses_sts.py)
ROWS = pd.DataFrame({
    "sentence1": ["ice-cold water", "a sweltering afternoon", "lukewarm tea", "a frosty morning", "warm sand"],
    "sentence2": ["freezing water", "a hot day", "tepid tea", "a chilly dawn", "cold snow"],
    "score": [4.0, 3.5, 3.0, 2.5, 0.5],
})



def write_snapshot(home: Path, repo: str, revision: str, files: dict[str, pd.DataFrame]) -> Path:
    """What `hf download REPO --repo-type dataset --revision REV` leaves in the hub cache: the snapshot folder of
    that revision (parquet files under data/) and refs/main pointing at it."""
    root = home / "hub" / f"datasets--{repo.replace('/', '--')}"
    snap = root / "snapshots" / revision
    for rel, df in files.items():
        (snap / rel).parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(snap / rel, index=False)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    return snap


def expected_spearman(prefix: str) -> float:
    """cosine_spearman of BIOSSES's rows on the seeded mock encoder, computed without mteb."""
    def unit(t: str) -> np.ndarray:
        v = mock_vector(prefix + t).astype(np.float64)
        return v / np.linalg.norm(v)
    cos = [float(unit(a) @ unit(b)) for a, b in zip(ROWS.sentence1, ROWS.sentence2, strict=True)]
    return float(spearmanr(cos, ROWS.score).statistic)


def named(name: str) -> ModelSpec:
    """The mock encoder under a real model's name: it gets that model's committed instruction file."""
    emb = MockEmbedder()
    return ModelSpec(alias=name.split("/")[-1], name=name, revision="test", loader=lambda: emb,
                     languages=["eng-Latn"], embed_dim=emb.dim, settings={"dim": emb.dim})


def test_catalogue_has_the_pinned_revision() -> None:
    entry = registry_tasks.catalogue()["BIOSSES"]
    assert (entry["type"], entry["path"], entry["revision"]) == ("STS", "mteb/biosses-sts", BIOSSES_REVISION)
    assert TaskRegistry().get("BIOSSES").source == "mteb"
    assert TaskRegistry().get("TemperatureBySensation").source == "local"  # a task folder stays a task folder


def test_registry_task_runs_end_to_end_offline_from_the_local_cache(hf_home: Path, tmp_path: Path) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["HF_DATASETS_OFFLINE"] == "1"
    write_snapshot(hf_home, "mteb/biosses-sts", BIOSSES_REVISION, {"data/test-00000-of-00001.parquet": ROWS})
    results = tmp_path / "results"
    spec = named("google/embeddinggemma-300m")
    summary = api.run([spec], tasks=["BIOSSES"], conditions=["none", "official"], results_dir=results,
                      progress=False, threads=1)
    assert (len(summary.ran), summary.failed) == (2, [])
    cells = results / "cells" / "google__embeddinggemma-300m" / "test"
    for condition, prefix, kind in (("none", "", None),
                                    ("official", "task: sentence similarity | query: ", "task_type")):
        side = json.loads((cells / condition / "BIOSSES.json").read_text())
        assert side["prompts"] == {"query": prefix, "document": prefix}
        assert side["official_kind"] == kind
        assert side["task_source"] == "mteb"
        assert side["dataset"] == {"path": "mteb/biosses-sts", "revision": BIOSSES_REVISION,
                                   "subsets": ["default"], "splits": ["test"]}
        assert side["task_dir"] == f"mteb:mteb/biosses-sts@{BIOSSES_REVISION}"
        assert side["n_items"] == {"default": {"test": 5}}
        result = json.loads((results / side["result_file"]).read_text())
        assert result["dataset_revision"] == BIOSSES_REVISION
        main_score = result["scores"]["test"][0]["cosine_spearman"]
        assert main_score == round(expected_spearman(prefix), 6)  # mteb stores 6 decimals
        items = pd.read_parquet(results / side["predictions_file"])
        assert list(items.text1) == list(ROWS.sentence1) and list(items.gold) == list(ROWS.score)  # our rows
    board, _ = api.aggregate(results)
    main = board[board.is_main].set_index("condition")
    assert main.loc["official", "official_kind"] == "task_type"
    assert main.loc["official", "dataset_revision"] == BIOSSES_REVISION
    table = delta_table(board).splitlines()
    assert table[0].endswith("  official") and table[1].endswith("  task_type")
    page = (results / "leaderboard.html").read_text()
    assert "<small>task_type</small>" in page  # under the official score
    report = (results / "report.md").read_text()
    assert "What `official` fed" in report and f"| embeddinggemma-300m | BIOSSES | task_type | mteb | " \
        f"{BIOSSES_REVISION[:12]} | <code>task: sentence similarity &#124; query: </code> |" in report
    # a rerun reuses both cells; nothing is stale
    again = api.run([spec], tasks=["BIOSSES"], conditions=["none", "official"], results_dir=results, progress=False)
    assert (len(again.ran), len(again.reused)) == (0, 2)


def hub_readme(configs: dict[str, tuple[str, str]]) -> str:
    """A dataset README's ``configs:`` block, as the hub's parquet layout has it: config name → (split, the folder
    of its parquet files); mteb's loaders read these configs."""
    lines = ["---", "configs:"]
    for name, (split, folder) in configs.items():
        lines += [f"- config_name: {name}", "  data_files:", f"  - split: {split}",
                  f"    path: {folder}/{split}-*.parquet"]
    return "\n".join([*lines, "---", ""])


SCIFACT_README = hub_readme({"default": ("test", "qrels"), "corpus": ("corpus", "corpus"),
                             "queries": ("queries", "queries")})


def test_registry_retrieval_task_with_its_task_instruction(hf_home: Path, tmp_path: Path) -> None:
    """SciFact (mteb's retrieval loader: corpus / queries / qrels configs of the snapshot's README) under
    e5-mistral's recipe: official is its SciFact instruction (kind task); ndcg@10 equals the value computed from
    the mock vectors' ranking."""
    entry = registry_tasks.catalogue()["SciFact"]
    corpus = pd.DataFrame({"_id": ["d1", "d2", "d3"], "title": ["", "", ""],
                           "text": ["Aspirin reduces fever.", "Ice is cold.", "The sun is hot."]})
    queries = pd.DataFrame({"_id": ["q1", "q2"], "text": ["Does aspirin lower fever?", "Is ice warm?"]})
    qrels = pd.DataFrame({"query-id": ["q1", "q2"], "corpus-id": ["d1", "d2"], "score": [1, 1]})
    snap = write_snapshot(hf_home, entry["path"], entry["revision"], {
        "corpus/corpus-00000.parquet": corpus, "queries/queries-00000.parquet": queries,
        "qrels/test-00000.parquet": qrels})
    (snap / "README.md").write_text(SCIFACT_README)
    results = tmp_path / "results"
    model = "intfloat/e5-mistral-7b-instruct"
    summary = api.run([named(model)], tasks=["SciFact"], conditions=["official"], results_dir=results,
                      progress=False)
    assert (len(summary.ran), summary.failed) == (1, [])
    side = json.loads((results / "cells" / "intfloat__e5-mistral-7b-instruct" / "test" / "official" /
                       "SciFact.json").read_text())
    prefix = "Instruct: Given a scientific claim, retrieve documents that support or refute the claim\nQuery: "
    assert side["prompts"] == {"query": prefix, "document": ""} and side["official_kind"] == "task"
    assert side["dataset"] == {"path": "mteb/scifact", "revision": entry["revision"], "subsets": ["default"],
                               "splits": ["test"]}

    def unit(t: str) -> np.ndarray:
        v = mock_vector(t).astype(np.float64)
        return v / np.linalg.norm(v)
    ndcg = []
    for q, gold in (("Does aspirin lower fever?", 0), ("Is ice warm?", 1)):
        cos = [float(unit(prefix + q) @ unit(d)) for d in corpus.text]
        rank = 1 + sum(c > cos[gold] for c in cos)
        ndcg.append(1 / np.log2(rank + 1))
    result = json.loads((results / side["result_file"]).read_text())
    assert result["scores"]["test"][0]["ndcg_at_10"] == round(float(np.mean(ndcg)), 5)


def test_uncached_registry_task_fails_fast_in_one_line_and_writes_nothing(hf_home: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    t0 = time.perf_counter()
    with pytest.raises(HarnessError) as e:
        api.run([mock_spec()], tasks=["STSBenchmark"], conditions=["none"], results_dir=results, progress=False)
    assert time.perf_counter() - t0 < 5
    rev = registry_tasks.catalogue()["STSBenchmark"]["revision"]
    assert e.value.lines() == [
        f"task 'STSBenchmark': dataset mteb/stsbenchmark-sts at revision {rev} is not in the local Hugging Face "
        f"cache ({hf_home / 'hub'}); run with --online, or first `hf download mteb/stsbenchmark-sts --repo-type "
        f"dataset --revision {rev}`"]
    assert not results.exists()


def test_uncached_cli_exit_2_one_line_in_seconds(hf_home: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "harness", "run", "--model", "minilm", "--tasks", "SciFact",
                          "--conditions", "none", "--results", str(results), "--threads", "1"],
                         capture_output=True, text=True, env=env, timeout=60)
    seconds = time.perf_counter() - t0
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: task 'SciFact': dataset mteb/scifact at revision ")
    assert "--online" in lines[0] and "hf download mteb/scifact --repo-type dataset --revision" in lines[0]
    assert not results.exists()
    assert seconds < 20  # interpreter and harness start-up included (< 5 s of it is the check itself)


def test_other_revision_only_is_not_used(hf_home: Path, tmp_path: Path) -> None:
    """Another revision in the hub cache is not the pinned one: still the one-line failure."""
    write_snapshot(hf_home, "mteb/biosses-sts", "0" * 40, {"data/test-00000-of-00001.parquet": ROWS})
    with pytest.raises(HarnessError, match=f"revision {BIOSSES_REVISION} is not in the local"):
        api.run([mock_spec()], tasks=["BIOSSES"], conditions=["none"], results_dir=tmp_path / "r", progress=False)


def test_dataset_revision_is_part_of_the_cell_key(tmp_path: Path) -> None:
    entry = registry_tasks.catalogue()["BIOSSES"]
    a = registry_tasks.RegistryTask("BIOSSES", entry)
    b = registry_tasks.RegistryTask("BIOSSES", {**entry, "revision": "1" * 40})
    recipe = model_instructions("harness/mock-seeded-encoder")
    ka, kb = (plan([mock_spec()], [t], [Condition("none")], tmp_path, recipes={"harness/mock-seeded-encoder": recipe}
                   )[0].key for t in (a, b))
    assert ka != kb


@pytest.mark.parametrize(("model", "task", "kind", "query"), [
    ("intfloat/e5-mistral-7b-instruct", "SciFact", "task",
     "Instruct: Given a scientific claim, retrieve documents that support or refute the claim\nQuery: "),
    ("intfloat/e5-mistral-7b-instruct", "BIOSSES", "model_default",
     "Instruct: Retrieve semantically similar text.\nQuery: "),
    ("google/embeddinggemma-300m", "SciFact", "task_type", "task: search result | query: "),
    ("sentence-transformers/all-MiniLM-L6-v2", "SciFact", "none", ""),
    ("intfloat/e5-mistral-7b-instruct", "Banking77Classification", "task",
     "Instruct: Given a online banking query, find the corresponding intents\nQuery: "),
    ("google/embeddinggemma-300m", "Banking77Classification", "task_type", "task: classification | query: "),
    ("nomic-ai/nomic-embed-text-v1.5", "Banking77Classification", "none", "classification: "),
])
def test_official_on_registry_tasks_is_mteb_string_and_kind(model: str, task: str, kind: str, query: str) -> None:
    """The exact prefix of the planned cell equals what mteb's own wrapper feeds for that task (golden against
    the wrapper, as tests/test_instructions.py does for task folders), and its official_kind."""
    from harness.prompts.export import recorder
    from tests.test_instructions import TEXT, _harness_fed, _prompt_types

    recipe = model_instructions(model)
    reg_task = TaskRegistry().get(task)
    assert official_kind(recipe, task, reg_task.type) == kind
    cell = plan([named(model)], [reg_task], [Condition("official")], Path("unused"), recipes={model: recipe})[0]
    assert cell.prompts["query"] == query
    wrapper = recorder.mteb_wrapper(model)
    md = reg_task.mteb_task_class.metadata
    for pt in _prompt_types(reg_task.type):
        assert _harness_fed(recipe, Condition("official"), md, pt) == recorder.mteb_fed(wrapper, md, pt, TEXT)[0]


def test_unknown_task_suggests_registry_names() -> None:
    with pytest.raises(HarnessError, match=r"unknown task 'SciFakt'.*did you mean .*SciFact"):
        TaskRegistry().get("SciFakt")


def test_ls_tasks_mteb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "tasks", "--mteb", "--type", "Retrieval", "--lang", "eng"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:6] == ["name", "type", "languages", "dataset", "revision", "cached"]
    assert "e5-mistral-7b-instruct" in header and "embeddinggemma-300m" in header
    row = dict(zip(header, next(line for line in lines if line.startswith("SciFact ")).split(), strict=True))
    assert (row["type"], row["dataset"], row["e5-mistral-7b-instruct"], row["embeddinggemma-300m"],
            row["all-MiniLM-L6-v2"]) == ("Retrieval", "mteb/scifact", "task", "type", "-")
    assert all(line.split()[1] == "Retrieval" for line in lines[1:])


def test_a_set_may_name_registry_tasks(tmp_path: Path) -> None:
    from harness.core.yamlfile import FileContext
    from harness.prompts.conditions import Prompter
    from harness.prompts.files import check_set
    from harness.prompts.schema import InstructionSet, RolePrompts

    s = InstructionSet(name="mine", description="d", tasks={"SciFact": RolePrompts(query="Find the evidence.")})
    check_set(s, FileContext(tmp_path / "mine.yaml"))  # raises for an unknown name
    recipe = model_instructions("intfloat/e5-mistral-7b-instruct")
    assert Prompter(recipe, Condition("mine", s)).prompts_for("SciFact", "Retrieval") == {
        "query": "Instruct: Find the evidence.\nQuery: ", "document": ""}


def test_benchmark_selects_its_text_tasks_with_their_subsets(monkeypatch: pytest.MonkeyPatch) -> None:
    """MTEB(eng, v2)'s STS tasks, each with the benchmark's subsets (STS17: en-en only), which are in the key."""
    monkeypatch.setattr(registry_tasks, "_selections", {})  # this process's benchmark selections: this test's only
    assert api.select_tasks(None, benchmark="MTEB(eng, v2)", task_types=["STS"]) == [
        "BIOSSES", "SICK-R", "STS12", "STS13", "STS14", "STS15", "STSBenchmark", "STS17", "STS22.v2"]
    sts17 = TaskRegistry().get("STS17")
    assert list(sts17.spec.subsets) == ["en-en"]
    full = registry_tasks.RegistryTask("STS17", registry_tasks.catalogue()["STS17"])
    assert len(full.spec.subsets) > 1 and full.data_hash != sts17.data_hash
    assert api.select_tasks(["TemperatureBySensation", "SciFact"], task_types=["STS"]) == ["TemperatureBySensation"]
    with pytest.raises(HarnessError, match=r"unknown benchmark 'MTEB\(eng, v9\)'; did you mean MTEB\(eng, v2\)"):
        api.select_tasks(None, benchmark="MTEB(eng, v9)")
    with pytest.raises(HarnessError, match="unknown task type 'Sts'"):
        api.select_tasks(None, task_types=["Sts"])


def test_types_without_predictions_or_recipes_are_refused_in_one_line(hf_home: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as e:
        api.run([mock_spec()], tasks=["TwentyNewsgroupsClustering"], conditions=["none"],
                results_dir=tmp_path / "r", progress=False)
    # a legacy clustering task (each row a set of texts): refused although registry Clustering runs
    assert e.value.lines() == ["task 'TwentyNewsgroupsClustering': mteb's legacy Clustering tasks (each row a set "
                               "of texts to cluster) cannot run yet; its successor TwentyNewsgroupsClustering.v2 can"]
    recipe = model_instructions("intfloat/e5-mistral-7b-instruct")
    # the instruction types are exported: e5-mistral has no per-task prompt for them, only mteb's default one
    assert official_kind(recipe, "IFIRAila", "InstructionRetrieval") == "model_default"
    assert official_kind(recipe, "Core17InstructionRetrieval", "InstructionReranking") == "model_default"
    assert official_kind(recipe, "AskUbuntuDupQuestions", "Reranking") == "task"  # Reranking is exported
    with pytest.raises(HarnessError, match=r"mteb's task is .* the harness runs text tasks only"):
        TaskRegistry().get(next(n for n, e in registry_tasks.catalogue().items() if e["modalities"] == ["image"]))


def test_a_task_folder_named_like_a_registry_task_wins_said_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    folder = tmp_path / "BIOSSES"
    shutil.copytree(ROOT / "tasks" / "TemperatureBySensation", folder)
    spec = folder / "task.yaml"
    spec.write_text(spec.read_text().replace("name: TemperatureBySensation", "name: BIOSSES", 1))
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(tmp_path))
    monkeypatch.setattr(registry_tasks, "_said", set())
    assert TaskRegistry().get("BIOSSES").source == "local"
    assert TaskRegistry().get("BIOSSES").source == "local"
    assert capsys.readouterr().err.splitlines() == [
        "note: task 'BIOSSES' is the task folder of that name, not mteb's registry task"]
