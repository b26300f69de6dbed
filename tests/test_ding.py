"""The Ding builder: each extraction rule, determinism, the .deb reader, the written tasks, the committed data.

Uses ``tests/fixtures/ding-de-en-excerpt.txt`` (19 lines of the real dictionary file); never the network.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.prompts.files import load_set
from harness.taskspecs import ding
from harness.taskspecs.local import LocalTask, TaskRegistry
from harness.taskspecs.spec import RetrievalSpec
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "ding-de-en-excerpt.txt"
TRANSLATION_INSTRUCTION = "Retrieve semantically similar text. Between german and english translations."


def fixture_lines() -> list[str]:
    return FIXTURE.read_text(encoding="utf-8").splitlines()


# -- the rules, one case each -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("de", "en", "reason"),
    [
        ("Er hat es tun müssen.", "He had to do it.", None),
        ("Was kann man noch tun?", "What remains to be done?", None),  # exactly 5 words each: kept
        ("Weiter geht es jetzt sofort!", "Proceed at once, right now!", None),
        ("als etw.", "by way of sth.", "not_sentence"),  # a phrase ending in an abbreviation
        ("in Anerkennung seiner Verdienste um ihn.", "in acknowledgement of his merits.", "not_sentence"),  # lower
        ("Er hat es tun müssen", "He had to do it.", "not_sentence"),  # no final . ! ?
        ("Es liegt in der Natur.; Es liegt in den Dingen.", "It is in the nature of things.", "semicolon"),
        ("Ich komme auch gleich mit.", "So am/did I, right away.", "slash"),
        ("Ein Schiff / Flugzeug war in Not.", "A ship / airplane was in distress.", "slash"),
        ("Es erging der Befehl, etw. zu tun.", "An order was issued to do sth.", "placeholder"),
        ("Die Schonzeit für jdn. ist vorbei.", "For him the gloves are off now.", "placeholder"),
        ("Ich auch nicht.", "Neither do I.", "short"),
        ("Er kann es auch so machen.", "He is able to do so too.", None),  # 'so.' is not a placeholder
    ],
)
def test_reject_reason(de: str, en: str, reason: str | None) -> None:
    assert ding.reject_reason(de, en) == reason


def test_annotations_are_removed_and_whitespace_collapsed() -> None:
    assert ding.clean("Das ist  toll! [ugs.] {adj} <toll>") == "Das ist toll!"
    assert ding.clean("All is gas and gaiters. [obs.]") == "All is gas and gaiters."


def test_line_rules() -> None:
    lines = [
        "# Version :: devel",  # comment
        "Er hat es tun müssen. He had to do it.",  # no ' :: '
        "Er hat es tun müssen. :: He had to do it. :: Noch einmal.",  # two separators
        "Hund {m} | Er hat es tun müssen. :: dog",  # parts do not align
        "Hund {m} | Er hat es tun müssen. [ugs.] :: dog | He had to do it.",  # part 1 kept, cleaned
        "Er hat es tun müssen. :: He had to do it.",  # duplicate of the line above
        "Das ist ein ganz gutes Haus. :: Er hat es tun müssen.",  # German text already used (as German)
        "Good morning to you all here. :: Good morning to you all here.",  # both sides equal
    ]
    e = ding.extract_pairs(lines)
    assert [(p.line, p.part, p.de, p.en) for p in e.pairs] == [(5, 1, "Er hat es tun müssen.", "He had to do it.")]
    assert e.dropped == {"comment": 1, "no_separator": 2, "misaligned": 1, "not_sentence": 1, "duplicate": 3}


def test_fixture_extraction_is_exact() -> None:
    e = ding.extract_pairs(fixture_lines())
    assert [p.pair_id for p in e.pairs] == [
        "000009-9", "000010-3", "000010-4", "000010-5", "000010-6", "000013-0", "000014-0", "000016-0", "000018-0",
    ]
    assert e.pairs[6].en == "All is gas and gaiters."  # '[obs.]' removed
    assert e.pairs[7].de == "Ich muss auf meine (schlanke) Linie achten."  # round brackets are text
    # line 12 repeats 'I intend to do just that.' (already the translation on line 9): dropped as duplicate
    assert "Das will ich auch tun." not in {p.de for p in e.pairs}
    assert e.dropped == {"comment": 5, "not_sentence": 17, "semicolon": 2, "slash": 2, "placeholder": 2,
                         "short": 1, "duplicate": 1}
    assert e.candidate_parts == 34
    texts = [t for p in e.pairs for t in (p.de, p.en)]
    assert len(texts) == len(set(texts))


def test_extraction_and_sample_are_deterministic() -> None:
    a, b = ding.extract_pairs(fixture_lines()), ding.extract_pairs(fixture_lines())
    assert a.pairs == b.pairs
    t1, d1 = ding.sample(a.pairs, seed=7, test_size=5, dev_size=3)
    t2, d2 = ding.sample(b.pairs, seed=7, test_size=5, dev_size=3)
    assert (t1, d1) == (t2, d2)
    assert not {p.pair_id for p in t1} & {p.pair_id for p in d1}
    assert [p.pair_id for p in t1] == sorted(p.pair_id for p in t1)  # file order
    others = {tuple(p.pair_id for p in ding.sample(a.pairs, seed=s, test_size=5, dev_size=3)[0]) for s in range(8)}
    assert len(others) > 1  # the seed matters
    with pytest.raises(HarnessError, match="only 9 exist"):
        ding.sample(a.pairs, test_size=8, dev_size=2)


# -- the .deb -----------------------------------------------------------------------------------------------
def _tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_deb(path: Path, dictionary: bytes, version: str = "1.9-6") -> Path:
    members = {
        "debian-binary": b"2.0\n",
        "control.tar.xz": _tar_xz({"./control": f"Package: trans-de-en\nVersion: {version}\n".encode()}),
        "data.tar.xz": _tar_xz({f"./{ding.DICT_MEMBER}": dictionary, "./usr/share/doc/x": b"doc"}),
    }
    out = bytearray(b"!<arch>\n")
    for name, data in members.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))
    return path


def test_read_deb_member(tmp_path: Path) -> None:
    deb = make_deb(tmp_path / "trans-de-en_1.9-6_all.deb", FIXTURE.read_bytes())
    data, version = ding.read_deb_member(deb)
    assert data == FIXTURE.read_bytes() and version == "1.9-6"
    (tmp_path / "bad.deb").write_bytes(b"not an archive")
    with pytest.raises(HarnessError, match="not a Debian package"):
        ding.read_deb_member(tmp_path / "bad.deb")


def task_dir_with_specs(tmp_path: Path) -> Path:
    """A tasks folder holding copies of the four committed task.yaml files (data written by the builder)."""
    tasks = tmp_path / "tasks"
    for name in ding.TASK_NAMES:
        (tasks / name).mkdir(parents=True)
        shutil.copy(ROOT / "tasks" / name / "task.yaml", tasks / name / "task.yaml")
    return tasks


def build_fixture_tasks(tmp_path: Path) -> Path:
    tasks = task_dir_with_specs(tmp_path)
    deb = make_deb(tmp_path / "trans-de-en_1.9-6_all.deb", FIXTURE.read_bytes())
    report = ding.build(deb=deb, tasks_dir=tasks, test_size=6, dev_size=2)
    assert len(report.test) == 6 and len(report.dev) == 2
    return tasks


def test_build_writes_loadable_tasks(tmp_path: Path) -> None:
    tasks = build_fixture_tasks(tmp_path)
    reg = TaskRegistry(tasks)
    assert reg.names() == sorted(ding.TASK_NAMES)
    data = {n: reg.get(n).load_dataset() for n in reg.names()}
    for n in reg.names():
        reg.get(n).metadata()  # mteb validates the metadata
    de_en = data["DeEnTranslationRetrieval"]["default"]["test"]
    assert len(de_en["queries"]) == 6 and len(de_en["corpus"]) == 6
    assert all(q.startswith("de-") and list(d) == ["en-" + q[3:]] for q, d in de_en["relevant_docs"].items())
    en_de = data["EnDeTranslationRetrieval"]["default"]["test"]
    assert all(q.startswith("en-") and list(d) == ["de-" + q[3:]] for q, d in en_de["relevant_docs"].items())
    mixed = data["MixedPoolTranslationRetrieval"]["default"]["test"]
    assert len(mixed["queries"]) == len(mixed["corpus"]) == 12 and len(mixed["relevant_docs"]) == 12
    assert set(mixed["queries"]["id"]) == set(mixed["corpus"]["id"])
    bitext = data["DeEnTranslationBitextMining"]["deu-eng"]["test"]
    assert bitext["sentence1"] == list(de_en["queries"]["text"])
    readme = (tasks / ding.SHARED_DIR / "README.md").read_text()
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() in readme
    assert "GPL-2+" in readme and "1.9-6" in readme
    for name in ding.TASK_NAMES:
        assert "../ding/README.md" in (tasks / name / "README.md").read_text()
    first = {p.read_bytes() for p in sorted(tasks.rglob("*.csv"))}
    ding.build(source=FIXTURE, tasks_dir=tasks, test_size=6, dev_size=2)
    assert {p.read_bytes() for p in sorted(tasks.rglob("*.csv"))} == first  # a rebuild writes the same bytes


def test_build_refuses_another_version(tmp_path: Path) -> None:
    deb = make_deb(tmp_path / "trans-de-en_2.0-1_all.deb", FIXTURE.read_bytes(), version="2.0-1")
    with pytest.raises(HarnessError, match=r"is not 1\.9"):
        ding.build(deb=deb, tasks_dir=task_dir_with_specs(tmp_path), test_size=6, dev_size=2)


def test_download_without_apt_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ding.shutil, "which", lambda _: None)
    with pytest.raises(HarnessError, match="apt-get not found"):
        ding.download(tmp_path)


def test_cli_data_ding_from_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    tasks = task_dir_with_specs(tmp_path)
    # the committed sizes (2000 + 500) do not fit the 9 fixture pairs: a one-line error, exit code 2
    assert main(["data", "ding", "--source", str(FIXTURE), "--tasks-dir", str(tasks)]) == 2
    assert "only 9 exist" in capsys.readouterr().err


# -- the committed data -------------------------------------------------------------------------------------
def test_committed_translation_tasks() -> None:
    reg = TaskRegistry()
    mixed = reg.get("MixedPoolTranslationRetrieval")
    assert isinstance(mixed.spec, RetrievalSpec) and mixed.spec.ignore_identical_ids
    assert mixed.spec.language_probe is not None
    de_en = reg.get("DeEnTranslationRetrieval").load_dataset()["default"]["test"]
    assert len(de_en["queries"]) == ding.TEST_SIZE == len(de_en["corpus"])
    assert all(len(d) == 1 for d in de_en["relevant_docs"].values())
    m = mixed.load_dataset()["default"]["test"]
    assert len(m["queries"]) == 2 * ding.TEST_SIZE and len(set(m["corpus"]["text"])) == 2 * ding.TEST_SIZE
    texts = [*m["queries"]["text"]]
    assert all(re.search(r"[.!?]$", t) and len(t.split()) >= ding.MIN_WORDS for t in texts)
    with (ROOT / "tasks" / ding.SHARED_DIR / "dev.csv").open(encoding="utf-8") as f:
        dev = list(csv.DictReader(f))
    assert len(dev) == ding.DEV_SIZE and not {r["de"] for r in dev} & set(texts)


def test_committed_files_match_the_readme_checksums() -> None:
    readme = (ROOT / "tasks" / ding.SHARED_DIR / "README.md").read_text(encoding="utf-8")
    sums = dict(re.findall(r"- `([\w/.]+\.csv)`: `([0-9a-f]{64})`", readme))
    assert len(sums) == 11
    for rel, digest in sums.items():
        assert hashlib.sha256((ROOT / "tasks" / rel).read_bytes()).hexdigest() == digest, rel


def test_blog_set_has_the_translation_instruction() -> None:
    blog = load_set("blog")
    for name in ding.TASK_NAMES:
        prompts = blog.tasks[name]
        assert prompts.query == TRANSLATION_INSTRUCTION
        is_retrieval = isinstance(LocalTask(ROOT / "tasks" / name).spec, RetrievalSpec)
        assert prompts.document == (TRANSLATION_INSTRUCTION if is_retrieval else None)
