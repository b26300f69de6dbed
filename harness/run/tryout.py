"""``harness try``: the origin's experiment in one command — a few words (or a pairs file), one or more
instructions, and the cosine of each pair without and with each instruction.

The strings are the ones ``harness run`` would feed an STS task: each condition's exact prefix comes from the same
planner (:class:`~harness.prompts.conditions.Prompter`, with the model's own instruction file for its format
prefixes and template), and every string goes through the same embedding cache
(:meth:`~harness.run.encoder.PromptedEncoder.embed_strings`), so a word `run` has embedded is never encoded again
and the other way round. ``side="both"`` instructs both texts of a pair (what an STS task does in ``run``);
``side="query"`` only the first, the second keeping the model's plain query-side prefix.

:func:`save` writes the pairs as a task folder (``tasks/<Name>/task.yaml`` + ``pairs.csv``) and the
instructions as a set file (``sets/<name>.yaml``; several instructions are one variant set, ``<name>#1`` …),
which ``harness run --tasks-dir DIR/tasks --conditions none,DIR/sets/<name>.yaml`` accepts.
"""

from __future__ import annotations

import csv
import datetime
import io
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.models.spec import ModelSpec
from harness.prompts.conditions import Condition, Prompter
from harness.prompts.files import model_instructions
from harness.prompts.schema import InstructionSet, RolePrompts, variant_name
from harness.taskspecs.spec import SPEC_FILE

Side = Literal["query", "both"]
SIDES: tuple[Side, ...] = ("both", "query")
DEFAULT_TASK = "MyPairs"
DEFAULT_SET = "mine"


@dataclass(frozen=True)
class Pairs:
    """The pairs to embed: (text1, text2) in order, their gold scores (None: no gold) and which pairs the table
    shows (the words' pairs, or the file's first ones)."""

    text1: list[str]
    text2: list[str]
    gold: list[float] | None
    shown: list[int]
    source: str  # "words" or the pairs file


def word_pairs(words: Sequence[str]) -> list[tuple[str, str]]:
    """The origin's table: the first word against every word, itself included (warm–warm, warm–hot, …)."""
    words = [w.strip() for w in words if w.strip()]
    if len(dict.fromkeys(words)) < 2:
        raise HarnessError("--words: give at least two different words, comma-separated (e.g. warm,hot,cold)")
    return [(words[0], w) for w in dict.fromkeys(words)]


def read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[float] | None]:
    """A pairs file: CSV with columns ``sentence1,sentence2`` and optionally ``score`` (the gold similarity)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"--pairs {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"--pairs {path}: cannot read ({e.__class__.__name__})") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = reader.fieldnames or []
    missing = [c for c in ("sentence1", "sentence2") if c not in cols]
    if missing:
        raise HarnessError(f"{path}:1: missing column(s) {', '.join(missing)} (expected sentence1,sentence2[,score])")
    pairs: list[tuple[str, str]] = []
    gold: list[float] = []
    for line, row in enumerate(reader, start=2):
        a, b = (row.get("sentence1") or "").strip(), (row.get("sentence2") or "").strip()
        if not a or not b:
            raise HarnessError(f"{path}:{line}: empty sentence1 or sentence2")
        pairs.append((a, b))
        if "score" in cols:
            try:
                gold.append(float(row.get("score") or ""))
            except ValueError:
                raise HarnessError(f"{path}:{line}: score {row.get('score')!r} is not a number") from None
    if not pairs:
        raise HarnessError(f"{path}: no pairs")
    return pairs, (gold if "score" in cols else None)


def make_pairs(words: Sequence[str] | None, pairs_file: Path | None, *, max_shown: int = 20) -> Pairs:
    """The words' pairs first, then the file's pairs not already among them; the table shows the words' pairs, or
    the file's first ``max_shown`` when no words are given. Gold scores come from the file only."""
    if not words and pairs_file is None:
        raise HarnessError("try: give --words w1,w2,... or --pairs FILE")
    from_words = word_pairs(words) if words else []
    from_file, file_gold = read_pairs(pairs_file) if pairs_file is not None else ([], None)
    # the words' pairs have no gold of their own: the statistics are over the file's scored pairs only
    index = {p: i for i, p in enumerate(from_words)}
    all_pairs = list(from_words)
    gold_at: dict[int, float] = {}
    for k, p in enumerate(from_file):
        i = index.get(p)
        if i is None:
            i = index[p] = len(all_pairs)
            all_pairs.append(p)
        if file_gold is not None:
            gold_at[i] = file_gold[k]
    shown = list(range(len(from_words))) if from_words else list(range(min(max_shown, len(all_pairs))))
    gold = None
    if file_gold is not None:
        gold = [gold_at.get(i, np.nan) for i in range(len(all_pairs))]
    return Pairs([a for a, _ in all_pairs], [b for _, b in all_pairs], gold, shown,
                 "words" if not pairs_file else str(pairs_file))


def instruction_set(instructions: Sequence[str], *, task: str = DEFAULT_TASK, name: str = DEFAULT_SET
                    ) -> InstructionSet:
    """The instructions as a set for ``task``: one instruction is a plain set, several a variant set."""
    texts = [i.strip() for i in instructions]
    if not texts or any(not t for t in texts):
        raise HarnessError("try: give at least one non-empty --instruction")
    entry: RolePrompts | list[RolePrompts] = (RolePrompts(query=texts[0]) if len(texts) == 1
                                              else [RolePrompts(query=t) for t in texts])
    try:
        return InstructionSet(name=name, description=f"written by `harness try` for {task}",
                              source="harness try", tasks={task: entry})  # type: ignore[dict-item]
    except ValueError as e:
        raise HarnessError(f"try: set name {name!r}: {e.errors()[0]['msg'] if hasattr(e, 'errors') else e}"
                           ) from None


def conditions(s: InstructionSet) -> list[Condition]:
    """``none``, then the set (or each of its variants)."""
    if not s.n_variants:
        return [Condition("none"), Condition(s.name, s)]
    return [Condition("none"), *(Condition(variant_name(s.name, k), s.variant(k)) for k in range(1, s.n_variants + 1))]


@dataclass
class Tried:
    """What :func:`embed` measured: per condition the exact prefixes and every pair's cosine."""

    model: str
    pairs: Pairs
    side: Side
    instructions: list[str]
    conditions: list[str]
    prefixes: dict[str, tuple[str, str]]  # condition → (text1's prefix, text2's prefix)
    cosines: dict[str, np.ndarray]  # condition → one cosine per pair
    encoded: int = 0
    from_cache: int = 0
    seconds: float = 0.0
    deltas: list[dict[str, float | str | int]] = field(default_factory=list)  # filled by the API (statistics)
    saved: tuple[Path, Path] | None = None  # (task folder, set file) when saved

    def table(self) -> str:
        """The origin's table: one row per shown pair, the cosine under none and under each instruction (with its
        change from none)."""
        labels = [f"#{k}" for k in range(1, len(self.conditions))]
        header = ["pair", "none", *(x for lab in labels for x in (lab, f"Δ{lab}"))]
        rows = []
        for i in self.pairs.shown:
            row = [f"{self.pairs.text1[i]} – {self.pairs.text2[i]}", f"{self.cosines['none'][i]:.3f}"]
            for cond in self.conditions[1:]:
                c, d = self.cosines[cond][i], self.cosines[cond][i] - self.cosines["none"][i]
                row += [f"{c:.3f}", f"{round(d, 3) + 0.0:+.3f}"]  # + 0.0: no "-0.000"
            rows.append(row)
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
        lines = [f"{self.model}: cosine of each pair without and with each instruction (side: {self.side})"]
        lines.append("  ".join(h.ljust(widths[j]) if j == 0 else h.rjust(widths[j]) for j, h in enumerate(header)))
        for r in rows:
            lines.append("  ".join(v.ljust(widths[j]) if j == 0 else v.rjust(widths[j]) for j, v in enumerate(r)))
        hidden = len(self.pairs.text1) - len(self.pairs.shown)
        if hidden > 0:
            lines.append(f"… and {hidden} more pair(s) (statistics below use every scored pair)")
        for lab, cond, text in zip(labels, self.conditions[1:], self.instructions, strict=True):
            p1, p2 = self.prefixes[cond]
            second = "" if self.side == "both" else f", second text {p2!r}"
            lines.append(f"{lab} = {cond}: {text!r} (exact prefix {p1!r}{second})")
        for d in self.deltas:
            lines.append(
                f"Spearman vs gold, {d['label']} − none: {d['score']:.3f} − {d['baseline_score']:.3f} = "
                f"{d['delta']:+.3f}, 95% CI [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] ({d['resample_unit']} "
                f"bootstrap, n={d['n_items']}), p={d['p_value']:.3g}"
                + (f", Holm p={d['p_holm']:.3g} over the {len(self.deltas)} shown" if len(self.deltas) > 1 else ""))
        if self.saved is not None:
            lines.append(f"saved: task {self.saved[0]}, set {self.saved[1]}")
        lines.append(f"strings: {self.encoded} encoded, {self.from_cache} from the embedding cache; "
                     f"{self.seconds:.1f}s")
        return "\n".join(lines)


def _cosines(a: np.ndarray, b: np.ndarray, similarity: str) -> np.ndarray:
    if similarity == "dot":
        return np.einsum("ij,ij->i", a, b)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-12)


def embed(spec: ModelSpec, pairs: Pairs, instructions: Sequence[str], *, side: Side = "both",
          batch_size: int = 32, cache_dir: Path | bool = True, task: str = DEFAULT_TASK,
          set_name: str = DEFAULT_SET) -> Tried:
    """Every pair's cosine under ``none`` and under each instruction, through the exact-prefix planner and the
    embedding cache ``run`` uses (``cache_dir``: True for the default cache, a folder, or False for none)."""
    import time

    if side not in SIDES:
        raise HarnessError(f"--side {side}: expected one of {', '.join(SIDES)}")
    if batch_size < 1:
        raise HarnessError(f"--batch-size {batch_size}: must be at least 1")
    t0 = time.perf_counter()
    s = instruction_set(instructions, task=task, name=set_name)
    recipe = model_instructions(spec.name)
    conds = conditions(s)
    plain = Prompter(recipe, Condition("format")).prefix(task, "STS", "query")
    prefixes: dict[str, tuple[str, str]] = {}
    for c in conds:
        p = Prompter(recipe, c).prefix(task, "STS", "query")
        prefixes[c.name] = (p, p if side == "both" or c.name == "none" else plain)
    strings = [p + t for c in conds for p, texts in zip(prefixes[c.name], (pairs.text1, pairs.text2), strict=True)
               for t in texts]

    from harness.run.cache import EmbeddingCache
    from harness.run.encoder import LazyEmbedder, PromptedEncoder

    cache = EmbeddingCache(None if cache_dir is True else cache_dir) if cache_dir is not False else None
    try:
        enc = PromptedEncoder(LazyEmbedder(spec), spec, Prompter(recipe, conds[0]), batch_size=batch_size,
                              cache=cache)
        vectors = enc.embed_strings(strings)
    finally:
        if cache is not None:
            cache.close()
    n = len(pairs.text1)
    cosines = {}
    for k, c in enumerate(conds):
        block = vectors[2 * n * k: 2 * n * (k + 1)]
        cosines[c.name] = _cosines(block[:n], block[n:], spec.similarity).astype(np.float64)
    return Tried(spec.alias, pairs, side, [i.strip() for i in instructions], [c.name for c in conds], prefixes,
                 cosines, enc.n_encoded, enc.n_cached, time.perf_counter() - t0)


def save_check(pairs: Pairs, side: str, out: Path, *, task: str = DEFAULT_TASK, set_name: str = DEFAULT_SET
               ) -> tuple[Path, Path]:
    """Why :func:`save` would refuse, raised before anything is embedded; else the (task folder, set file) it
    will write."""
    if pairs.gold is None or any(np.isnan(g) for g in pairs.gold):
        raise HarnessError("--save: every pair needs a gold score (--pairs FILE with a score column): a task run "
                           "by `harness run` is scored against them")
    if side != "both":
        raise HarnessError("--save: `harness run` instructs both texts of an STS pair; use --side both")
    folder, set_file = out / "tasks" / task, out / "sets" / f"{set_name}.yaml"
    for p in (folder, set_file):
        if p.exists():
            raise HarnessError(f"--save {out}: {p} exists; remove it or choose another folder")
    return folder, set_file


def save(tried: Tried, out: Path, *, task: str = DEFAULT_TASK, set_name: str = DEFAULT_SET,
         language: str = "eng-Latn") -> tuple[Path, Path]:
    """Write ``out/tasks/<task>/`` (task.yaml + pairs.csv) and ``out/sets/<set_name>.yaml``; returns both paths.
    Needs gold scores (an STS task is scored against them) and ``side="both"`` (what ``run`` does with an STS
    task). Nothing is half-written: the task folder appears whole or not at all, and nothing is overwritten."""
    import yaml

    pairs = tried.pairs
    folder, set_file = save_check(pairs, tried.side, out, task=task, set_name=set_name)
    gold = list(pairs.gold or [])
    today = datetime.date.today().isoformat()
    report_pairs = [[pairs.text1[i], pairs.text2[i]] for i in pairs.shown]
    spec = {
        "name": task, "type": "STS",
        "description": f"Pairs written by `harness try` ({pairs.source}).",
        "subsets": {"default": [language]}, "splits": ["test"], "main_score": "cosine_spearman",
        "date": [today, today], "domains": ["Written"], "license": "not specified",
        "annotations_creators": "expert-annotated", "sample_creation": "created", "data": "pairs.csv",
        "min_score": float(min(gold)), "max_score": float(max(gold)), "report_pairs": report_pairs,
    }
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sentence1", "sentence2", "score"])
    for a, b, g in zip(pairs.text1, pairs.text2, gold, strict=True):
        w.writerow([a, b, repr(float(g))])
    s = instruction_set(tried.instructions, task=task, name=set_name)
    set_body = s.model_dump(mode="json", exclude_none=True)
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task}-", dir=out / "tasks"))
    try:
        (tmp / SPEC_FILE).write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
        (tmp / "pairs.csv").write_text(buf.getvalue(), encoding="utf-8")
        tmp.chmod(0o755)
        tmp.rename(folder)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise HarnessError(f"--save {out}: cannot write the task folder ({e.strerror or e})") from None
    set_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(set_file, yaml.safe_dump(set_body, sort_keys=False, allow_unicode=True))
    return folder, set_file
