"""German–English translation pairs from the Ding dictionary → the four translation tasks' data files.

Source: Debian package ``trans-de-en`` 1.9 (the Ding dictionary by Frank Richter, GPL-2+). Its dictionary file
``usr/share/trans/de-en`` has one entry per line, ``German | … :: English | …``, whose ``|``-separated parts
align. Many parts are example sentences with their translation; :func:`extract_pairs` keeps those that are
full sentences on both sides, by the rules in :data:`RULES` (each rule is tested on a committed excerpt).

:func:`build` downloads the package with ``apt-get download`` (no install, no root needed unless the apt lists
are missing), reads the .deb with the standard library (ar + tar), extracts the pairs, draws a fixed seeded
sample (test + dev), and writes each task's data files and README. The derived files are committed, so tests
and benchmarks never need the network.
"""

from __future__ import annotations

import csv
import hashlib
import io
import lzma
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.core.offline import PROJECT_ROOT

PACKAGE = "trans-de-en"
VERSION = "1.9"  # upstream version; the Debian revision (e.g. 1.9-6) is recorded in the README
DICT_MEMBER = "usr/share/trans/de-en"
LICENSE = "GPL-2.0-or-later"
SEED = 20260
TEST_SIZE = 2000
DEV_SIZE = 500
MIN_WORDS = 5
SHARED_DIR = "ding"  # tasks/ding/: the shared README and the dev split (no task.yaml, so not a task)
TASK_NAMES = (
    "DeEnTranslationRetrieval",
    "EnDeTranslationRetrieval",
    "MixedPoolTranslationRetrieval",
    "DeEnTranslationBitextMining",
)

RULES = {
    "comment": "lines starting with '#' (the file header) are skipped",
    "no_separator": "a line without exactly one ' :: ' between German and English is skipped",
    "misaligned": "a line whose German and English sides have different numbers of ' | ' parts is skipped",
    "annotation": "annotations in {…}, […] and <…> are removed and whitespace is collapsed (a cleaning step)",
    "not_sentence": "both sides must end with '.', '!' or '?' and their first letter or digit must be upper-case "
    "or a digit (drops phrases such as 'in Anerkennung seiner Verdienste um etw.')",
    "semicolon": "a part holding ';' lists alternatives and is dropped",
    "slash": "a part holding '/' lists alternatives ('eat humble pie/crow', 'raced / barreled') and is dropped",
    "placeholder": "a part holding a dictionary placeholder (etw. jd. jdn. jdm. jds. sth. sb.) is a pattern, "
    "not a sentence, and is dropped",
    "short": f"each side must have at least {MIN_WORDS} whitespace-separated words",
    "duplicate": "a sentence already used (in either language, earlier in the file) or a pair whose two sides "
    "are equal is dropped, so every text is unique across both languages",
}

_ANNOTATION = re.compile(r"\s*(\{[^{}]*\}|\[[^\[\]]*\]|<[^<>]*>)")
_PLACEHOLDER = re.compile(r"(?<!\w)(etw|jd|jdn|jdm|jds|sth|sb)\.", re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    """One aligned sentence pair; ``pair_id`` is ``<line>-<part>`` in the source file (1-based line)."""

    line: int
    part: int
    de: str
    en: str

    @property
    def pair_id(self) -> str:
        return f"{self.line:06d}-{self.part}"


@dataclass
class Extraction:
    pairs: list[Pair]
    dropped: Counter[str] = field(default_factory=Counter)
    candidate_parts: int = 0


def clean(part: str) -> str:
    """Remove {…} […] <…> annotations and collapse whitespace."""
    return " ".join(_ANNOTATION.sub("", part).split())


def _is_sentence(text: str) -> bool:
    if not text or text[-1] not in ".!?":
        return False
    first = next((ch for ch in text if ch.isalnum()), "")
    return first.isupper() or first.isdigit()


def reject_reason(de: str, en: str) -> str | None:
    """The first rule a cleaned (German, English) part pair breaks, or None if it is kept."""
    if not (_is_sentence(de) and _is_sentence(en)):
        return "not_sentence"
    if ";" in de or ";" in en:
        return "semicolon"
    if "/" in de or "/" in en:
        return "slash"
    if _PLACEHOLDER.search(de) or _PLACEHOLDER.search(en):
        return "placeholder"
    if len(de.split()) < MIN_WORDS or len(en.split()) < MIN_WORDS:
        return "short"
    return None


def extract_pairs(lines: Iterable[str]) -> Extraction:
    """Apply :data:`RULES` to the dictionary's lines, in file order. Deterministic."""
    out = Extraction(pairs=[])
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            out.dropped["comment"] += 1
            continue
        sides = line.split(" :: ")
        if len(sides) != 2:
            out.dropped["no_separator"] += 1
            continue
        de_parts, en_parts = sides[0].split(" | "), sides[1].split(" | ")
        if len(de_parts) != len(en_parts):
            out.dropped["misaligned"] += 1
            continue
        for i, (d, e) in enumerate(zip(de_parts, en_parts, strict=True)):
            out.candidate_parts += 1
            de, en = clean(d), clean(e)
            reason = reject_reason(de, en)
            if reason is None and (de == en or de in seen or en in seen):
                reason = "duplicate"
            if reason is not None:
                out.dropped[reason] += 1
                continue
            seen.update((de, en))
            out.pairs.append(Pair(number, i, de, en))
    return out


def sample(pairs: list[Pair], *, seed: int = SEED, test_size: int = TEST_SIZE,
           dev_size: int = DEV_SIZE) -> tuple[list[Pair], list[Pair]]:
    """A seeded, disjoint (test, dev) sample; each kept in source-file order."""
    if test_size + dev_size > len(pairs):
        raise HarnessError(f"ding: asked for {test_size} test + {dev_size} dev pairs but only {len(pairs)} exist")
    order = np.random.default_rng(seed).permutation(len(pairs))
    test = sorted(order[:test_size].tolist())
    dev = sorted(order[test_size:test_size + dev_size].tolist())
    return [pairs[i] for i in test], [pairs[i] for i in dev]


# -- the .deb ----------------------------------------------------------------------------------------------
def read_deb_member(deb: Path, member: str = DICT_MEMBER) -> tuple[bytes, str]:
    """(bytes of ``member``, package version) from a .deb, read with the standard library (ar + tar)."""
    try:
        blob = deb.read_bytes()
    except OSError as e:
        raise HarnessError(f"{deb}: cannot read ({e.strerror or e})") from None
    if not blob.startswith(b"!<arch>\n"):
        raise HarnessError(f"{deb}: not a Debian package (no ar header)")
    members: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)

    def tar_of(prefix: str) -> tarfile.TarFile:
        name = next((n for n in members if n.startswith(prefix)), None)
        if name is None:
            raise HarnessError(f"{deb}: no {prefix}* member")
        data = members[name]
        if name.endswith(".zst"):
            raise HarnessError(f"{deb}: {name} is zstd-compressed; extract it with dpkg-deb -x and pass the file")
        if name.endswith(".xz"):
            data = lzma.decompress(data)
        return tarfile.open(fileobj=io.BytesIO(data))  # gz/bz2/plain detected by tarfile

    version = ""
    with tar_of("control.tar") as t:
        for m in t.getmembers():
            if m.name.lstrip("./") == "control":
                f = t.extractfile(m)
                control = f.read().decode() if f else ""
                match = re.search(r"^Version:\s*(\S+)", control, re.MULTILINE)
                version = match.group(1) if match else ""
    with tar_of("data.tar") as t:
        for m in t.getmembers():
            if m.name.lstrip("./") == member:
                f = t.extractfile(m)
                if f is None:
                    break
                return f.read(), version
    raise HarnessError(f"{deb}: has no {member}")


def download(dest: Path) -> Path:
    """``apt-get download trans-de-en`` into ``dest``; runs ``apt-get update`` once if the lists are missing."""
    if shutil.which("apt-get") is None:
        raise HarnessError("ding: apt-get not found; download trans-de-en_1.9-*_all.deb yourself and pass --deb")

    def attempt() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["apt-get", "download", PACKAGE], cwd=dest, capture_output=True, text=True,
                              timeout=600, check=False)

    proc = attempt()
    if proc.returncode != 0:
        update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, timeout=600, check=False)
        if update.returncode == 0:
            proc = attempt()
    debs = sorted(dest.glob(f"{PACKAGE}_*.deb"))
    if proc.returncode != 0 or not debs:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise HarnessError(f"ding: apt-get download {PACKAGE} failed ({msg[-1] if msg else proc.returncode}); "
                           "pass a downloaded .deb with --deb")
    return debs[0]


# -- writing -----------------------------------------------------------------------------------------------
def _csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def task_files(test: list[Pair]) -> dict[str, dict[str, str]]:
    """{task folder: {file name: CSV text}} for the four tasks (ids ``de-<pair>``/``en-<pair>``)."""
    de_rows = [(f"de-{p.pair_id}", p.de) for p in test]
    en_rows = [(f"en-{p.pair_id}", p.en) for p in test]
    both = [(f"de-{p.pair_id}", p.de, "de", p.pair_id) for p in test] + \
        [(f"en-{p.pair_id}", p.en, "en", p.pair_id) for p in test]
    qrels_cols = ["query_id", "doc_id", "score"]
    return {
        "DeEnTranslationRetrieval": {
            "queries.csv": _csv_text(["id", "text"], de_rows),
            "corpus.csv": _csv_text(["id", "text"], en_rows),
            "qrels.csv": _csv_text(qrels_cols, [(f"de-{p.pair_id}", f"en-{p.pair_id}", 1) for p in test]),
        },
        "EnDeTranslationRetrieval": {
            "queries.csv": _csv_text(["id", "text"], en_rows),
            "corpus.csv": _csv_text(["id", "text"], de_rows),
            "qrels.csv": _csv_text(qrels_cols, [(f"en-{p.pair_id}", f"de-{p.pair_id}", 1) for p in test]),
        },
        "MixedPoolTranslationRetrieval": {
            "queries.csv": _csv_text(["id", "text", "language", "pair"], both),
            "corpus.csv": _csv_text(["id", "text"], [r[:2] for r in both]),
            "qrels.csv": _csv_text(
                qrels_cols,
                [(f"de-{p.pair_id}", f"en-{p.pair_id}", 1) for p in test]
                + [(f"en-{p.pair_id}", f"de-{p.pair_id}", 1) for p in test],
            ),
        },
        "DeEnTranslationBitextMining": {
            "pairs.csv": _csv_text(["subset", "split", "sentence1", "sentence2"],
                                   [("deu-eng", "test", p.de, p.en) for p in test]),
        },
    }


@dataclass
class BuildReport:
    source_sha256: str
    package_version: str
    extraction: Extraction
    test: list[Pair]
    dev: list[Pair]
    written: list[Path]

    def lines(self) -> list[str]:
        e = self.extraction
        return [
            f"source {PACKAGE} {self.package_version} {DICT_MEMBER} sha256 {self.source_sha256}",
            f"{e.candidate_parts} aligned parts, {len(e.pairs)} sentence pairs kept; dropped: "
            + ", ".join(f"{k} {v}" for k, v in sorted(e.dropped.items())),
            f"sample (seed {SEED}): {len(self.test)} test, {len(self.dev)} dev pairs",
            *[f"wrote {p}" for p in self.written],
        ]


def _readme_shared(r: BuildReport, files: dict[str, str], seed: int) -> str:
    e = r.extraction
    rules = "\n".join(
        f"- `{k}`: {v}" + ("" if k == "annotation" else f" — dropped: {e.dropped.get(k, 0)}") for k, v in RULES.items()
    )
    sums = "\n".join(f"- `{name}`: `{digest}`" for name, digest in sorted(files.items()))
    return f"""# Ding German–English sentence pairs (shared by the four translation tasks)

Written by `harness data ding` (harness/ding.py); do not edit by hand — rerun the command instead.

- Source: the Ding dictionary by Frank Richter, TU Chemnitz (https://dict.tu-chemnitz.de/), as shipped in the
  Debian package `{PACKAGE}` version `{r.package_version}` (upstream {VERSION}), file `/{DICT_MEMBER}`.
- License: GPL-2+ (GNU General Public License, version 2 or later); the derived files here carry the same license.
- sha256 of the source dictionary file: `{r.source_sha256}`
- Aligned parts examined: {e.candidate_parts}; sentence pairs kept: {len(e.pairs)}.
- Sample: seed {seed}, {len(r.test)} test pairs (the four tasks) and {len(r.dev)} dev pairs (`dev.csv`,
  disjoint from test, not evaluated; kept for tuning instructions without touching test).
- Pair id: `<line>-<part>`: 1-based line number in the source file and 0-based `|` part index.
  Retrieval ids are `de-<pair>` and `en-<pair>`.

## Extraction rules (in order; counts are parts or lines dropped by each rule)
{rules}

About 15,000 parts pass the sentence, `;`, length and annotation rules alone; the `/`-alternative, placeholder,
capitalisation and duplicate rules keep the {len(e.pairs)} that read as one plain sentence on each side.

## Tasks
- `DeEnTranslationRetrieval`: German queries, English corpus; the translation is the one relevant document.
- `EnDeTranslationRetrieval`: English queries, German corpus.
- `MixedPoolTranslationRetrieval`: one corpus of all {2 * len(r.test)} sentences; every sentence is a query whose
  only relevant document is its translation (its own id is ignored). Its queries file carries `language` and
  `pair` columns for the language-split probe.
- `DeEnTranslationBitextMining`: mteb bitext mining, subset `deu-eng` (sentence1 German, sentence2 English).

## sha256 of the written files
{sums}
"""


def _readme_task(name: str) -> str:
    return (f"# {name}\n\nData: German–English sentence pairs from the Ding dictionary (Debian `{PACKAGE}` "
            f"{VERSION}, GPL-2+), extracted and sampled by `harness data ding`. Source, version, license, the "
            f"source file's sha256, extraction rules and counts: [../{SHARED_DIR}/README.md]"
            f"(../{SHARED_DIR}/README.md).\n")


def build_from_text(text: str, *, package_version: str, tasks_dir: Path, seed: int = SEED,
                    test_size: int = TEST_SIZE, dev_size: int = DEV_SIZE) -> BuildReport:
    """Extract, sample and write every task's data files + READMEs under ``tasks_dir``."""
    source_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    extraction = extract_pairs(text.splitlines())
    test, dev = sample(extraction.pairs, seed=seed, test_size=test_size, dev_size=dev_size)
    report = BuildReport(source_sha, package_version, extraction, test, dev, [])
    digests: dict[str, str] = {}
    outputs: dict[Path, str] = {}
    for task, files in task_files(test).items():
        for name, content in files.items():
            outputs[tasks_dir / task / name] = content
        outputs[tasks_dir / task / "README.md"] = _readme_task(task)
    outputs[tasks_dir / SHARED_DIR / "dev.csv"] = _csv_text(["pair", "de", "en"], [(p.pair_id, p.de, p.en)
                                                                                  for p in dev])
    for path, content in outputs.items():
        if path.name != "README.md":
            digests[f"{path.parent.name}/{path.name}"] = hashlib.sha256(content.encode()).hexdigest()
    outputs[tasks_dir / SHARED_DIR / "README.md"] = _readme_shared(report, digests, seed)
    for path, content in outputs.items():
        atomic.write_text(path, content)
        report.written.append(path)
    return report


def build(*, deb: Path | None = None, source: Path | None = None, tasks_dir: Path | None = None,
          seed: int = SEED, test_size: int = TEST_SIZE, dev_size: int = DEV_SIZE) -> BuildReport:
    """The `harness data ding` command: download (or use ``deb``/``source``), extract, sample, write."""
    tasks_dir = tasks_dir or PROJECT_ROOT / "tasks"
    if source is not None:
        try:
            raw, version = source.read_bytes(), f"{VERSION} (from {source.name})"
        except OSError as e:
            raise HarnessError(f"{source}: cannot read ({e.strerror or e})") from None
    else:
        with tempfile.TemporaryDirectory(prefix="ding-") as tmp:
            path = deb or download(Path(tmp))
            raw, version = read_deb_member(path)
        if not version.startswith(VERSION):
            raise HarnessError(f"ding: {PACKAGE} version {version or '?'} is not {VERSION}; pass a {VERSION} .deb")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HarnessError(f"ding: dictionary file is not UTF-8 (byte {e.start})") from None
    return build_from_text(text, package_version=version, tasks_dir=tasks_dir, seed=seed,
                           test_size=test_size, dev_size=dev_size)
