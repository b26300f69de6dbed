"""The real bundled MiniLM end to end, and proof that nothing adds a prompt of its own under `none`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.models.spec import ModelSpec

TASK = "TemperatureBySensation"


@pytest.fixture(scope="module")
def minilm_results(tmp_path_factory: pytest.TempPathFactory, minilm_spec: ModelSpec) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("minilm")
    embedder = minilm_spec.load()
    seen: list[str] = []
    module = embedder.model[0]  # type: ignore[attr-defined]
    original = module.preprocess
    tokenizer = embedder.model.tokenizer  # type: ignore[attr-defined]

    def spy(inputs, *a, **k):  # decode the token ids that actually reach the transformer
        features = original(inputs, *a, **k)
        seen.extend(tokenizer.decode(ids, skip_special_tokens=True) for ids in features["input_ids"])
        return features

    module.preprocess = spy
    spec = ModelSpec(**{**minilm_spec.__dict__, "loader": lambda: embedder})
    summary = api.run([spec], tasks=[TASK], conditions=["none", "blog"], results_dir=out, progress=False)
    assert len(summary.ran) == 2 and not summary.failed
    api.aggregate(out)
    return out, seen


def test_none_feeds_raw_text_to_the_tokenizer(minilm_results) -> None:
    _, seen = minilm_results
    words = set(pd.read_csv(Path(__file__).parent.parent / "tasks" / TASK / "words.csv").word)
    raw = {t for t in seen if not t.startswith("classify")}
    assert raw == words  # the token ids decode to the bare word: no "query: ", no default prompt, nothing
    blog = {t for t in seen if t.startswith("classify")}  # MiniLM's tokenizer lower-cases
    assert blog == {f"classify a given temperature by its sensation. {w}" for w in words}


def test_parquet_outputs_hold_both_conditions_and_subsets(minilm_results) -> None:
    out, _ = minilm_results
    board = pd.read_parquet(out / "leaderboard.parquet")
    main = board[board.is_main]
    assert set(main.condition) == {"none", "blog"}
    assert set(main.subset) == {"sensation", "relation"}
    assert set(main.model) == {"sentence-transformers/all-MiniLM-L6-v2"}
    assert (main.n_items == 595).all()
    deltas = pd.read_parquet(out / "deltas.parquet")
    assert set(deltas[deltas.is_main].subset) == {"sensation", "relation"}
    # MiniLM is not an instruction model: the instruction makes every word look alike
    pairs = board[board.metric == "cosine:warm|philosophy"].set_index("condition").score
    assert pairs["blog"] > pairs["none"] + 0.3
