"""Crafted results folders, made on the fly from a 1-cell mock run (and a 2-cell one for publish): `..` in every
path field, absolute paths, a symlinked file, a symlinked parent folder, a symlink to a file outside, oversized
files, too many files, sidecar fields of the wrong type (hypothesis). `harness merge` and `harness publish` refuse
each with one line (exit 2), write nothing (no --into, no OUT, nothing outside), and never copy an unpinned file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import api, cli
from harness.models.mock import mock_spec
from harness.results import trust

TASK = "TemperatureBySensation"
SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not really\n"


@pytest.fixture(scope="module")
def one_cell(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("one") / "results"
    api.run([mock_spec()], tasks=[TASK], conditions=["none"], results_dir=out, progress=False)
    return out


@pytest.fixture(scope="module")
def two_cells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("two") / "results"
    api.run([mock_spec()], tasks=[TASK], conditions=["none", "blog"], results_dir=out, progress=False)
    api.aggregate(out)
    return out


def _sidecar(folder: Path) -> tuple[Path, dict[str, Any]]:
    path = next((folder / "cells").rglob(f"{TASK}.json"))
    return path, json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, side: dict[str, Any]) -> None:
    path.write_text(json.dumps(side, indent=2), encoding="utf-8")


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every entry below ``root`` (links as their target text), to prove nothing was written."""
    out: dict[str, bytes | str] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(top, name)
            out[str(p.relative_to(root))] = (f"-> {os.readlink(p)}" if p.is_symlink()
                                             else b"" if p.is_dir() else p.read_bytes())
    return out


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], root: Path, gone: Path) -> str:
    """Run the CLI; it must exit 2 with one `error:` line, leave ``gone`` absent and ``root`` as it was."""
    before = _tree(root)
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not gone.exists()
    assert _tree(root) == before  # nothing written anywhere below the test's folder (victim files included)
    return lines[0]


@pytest.fixture
def evil(one_cell: Path, tmp_path: Path) -> Path:
    shutil.copytree(one_cell, tmp_path / "EVIL")
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "id_ed25519").write_bytes(SECRET)
    return tmp_path / "EVIL"


def _merge(capsys: pytest.CaptureFixture[str], evil: Path) -> str:
    root = evil.parent
    return _refused(capsys, ["merge", str(evil), "--into", str(root / "OUT")], root, root / "OUT")


def _repoint(evil: Path, field: str, new: str) -> None:
    """Point a sidecar path field (or a pin) at ``new``, pinned with the attacker's own sha256."""
    path, side = _sidecar(evil)
    pins = side[trust.PINS_FIELD]
    if field == trust.PINS_FIELD:
        pins[new] = "0" * 64
    else:
        pins[new] = pins.pop(side[field])
        side[field] = new
    _write(path, side)


FIELDS = ["result_file", "predictions_file", trust.PINS_FIELD]


@pytest.mark.parametrize("field", FIELDS)
def test_dotdot_in_a_path_field_is_refused(evil: Path, capsys: pytest.CaptureFixture[str], field: str) -> None:
    _repoint(evil, field, "cells/../../victim/id_ed25519")
    line = _merge(capsys, evil)
    assert "path leaves the results folder ('..'); nothing merged" in line and f"field '{field}" in line


@pytest.mark.parametrize("field", FIELDS)
def test_an_absolute_path_is_refused(evil: Path, capsys: pytest.CaptureFixture[str], field: str) -> None:
    _repoint(evil, field, str(evil.parent / "victim" / "id_ed25519"))
    line = _merge(capsys, evil)
    assert "an absolute path; a cell's paths are relative to its results folder" in line
    assert f"field '{field}" in line


def test_the_issue_attack_a_link_inside_and_dotdot_is_refused(evil: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    """The issue's attack: `cells/L` a link inside the folder, the path `cells/L/../../../…`, its sha256 pinned."""
    (evil / "cells" / "L").symlink_to(evil / "cells")
    _repoint(evil, "predictions_file", "cells/L/../../../victim/.bashrc")
    line = _merge(capsys, evil)
    assert line == (f"error: {evil / 'cells' / 'L'}: a symbolic link inside {evil}; merge refuses folders that "
                    "contain links (replace it with a copy of what it should hold, or remove it); nothing merged")


def test_a_symlinked_file_is_refused(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = next((evil / "cells").rglob("*.predictions.parquet"))
    shutil.move(preds, preds.with_name("elsewhere.bin"))
    preds.symlink_to(preds.with_name("elsewhere.bin"))
    assert f"error: {preds}: a symbolic link inside {evil}" in _merge(capsys, evil)


def test_a_symlinked_parent_folder_is_refused(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    revision = next((evil / "results").glob("*/*"))
    shutil.move(revision, revision.with_name("real"))
    revision.symlink_to(revision.with_name("real"), target_is_directory=True)
    assert f"error: {revision}: a symbolic link inside {evil}" in _merge(capsys, evil)


def test_a_symlink_to_a_secret_outside_is_refused_and_never_copied(evil: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    meta = next((evil / "results").rglob(trust.MODEL_META))
    meta.unlink()
    meta.symlink_to(tmp_path / "victim" / "id_ed25519")
    assert f"error: {meta}: a symbolic link inside {evil}" in _merge(capsys, evil)


@pytest.mark.parametrize(("kind", "glob", "size"), [("result", f"results/*/*/*/*/{TASK}.json", 17 << 20),
                                                    ("predictions", "cells/*/*/*/*.predictions.parquet", 257 << 20),
                                                    ("sidecar", f"cells/*/*/*/{TASK}.json", 2 << 20)])
def test_an_oversized_file_is_refused_before_it_is_read(evil: Path, capsys: pytest.CaptureFixture[str], kind: str,
                                                        glob: str, size: int) -> None:
    path = next(evil.glob(glob))
    os.truncate(path, size)  # sparse: the test writes no such amount
    line = _merge(capsys, evil)
    assert f"is {size:,} bytes, over the {trust.MAX_BYTES[kind]:,}-byte limit for a {kind} file" in line


def test_too_many_files_in_a_cell_are_refused(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, side = _sidecar(evil)
    side[trust.PINS_FIELD].update({f"cells/x/{i}.bin": "0" * 64 for i in range(trust.FILES_PER_CELL)})
    _write(path, side)
    assert f"files, over the {trust.FILES_PER_CELL} a cell may hold" in _merge(capsys, evil)


def test_only_pinned_files_are_copied(evil: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = _sidecar(evil)
    path.with_name(f"{TASK}.extra.bin").write_bytes(SECRET)  # beside the cell, pinned by nothing
    assert cli.main(["merge", str(evil), "--into", str(tmp_path / "OUT")]) == 0
    assert "1 unpinned file(s) beside the cells left out" in capsys.readouterr().out
    copied = {p.relative_to(tmp_path / "OUT") for p in (tmp_path / "OUT").rglob("*") if p.is_file()}
    assert not any(p.name.endswith(".extra.bin") for p in copied)
    assert all(SECRET not in (tmp_path / "OUT" / p).read_bytes() for p in copied)


def test_a_cell_written_before_pins_gets_them_computed_and_said(evil: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path, side = _sidecar(evil)
    pins = side.pop(trust.PINS_FIELD)
    _write(path, side)
    assert cli.main(["merge", str(evil), "--into", str(tmp_path / "OUT")]) == 0
    out = capsys.readouterr().out
    assert "1 cell(s) written before every file was pinned: their sha256 were computed now from the source" in out
    merged = json.loads((tmp_path / "OUT" / path.relative_to(evil)).read_text(encoding="utf-8"))
    assert merged[trust.PINS_FIELD] == pins  # the same hashes the writer pins


# ------------------------------------------------------------------------------------------- wrong field types
SIDECAR_FIELDS = ["key", "model", "revision", "condition", "task", "result_file", "created_at", "alias",
                  "predictions_file", "prompts", "n_items", "probes", "files_sha256", "cell_files"]
WRONG = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2))


@settings(derandomize=True, max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(SIDECAR_FIELDS), value=WRONG)
def test_sidecar_fields_of_the_wrong_type_are_refused(one_cell: Path, capsys: pytest.CaptureFixture[str],
                                                      field: str, value: object) -> None:
    expected: dict[str, Callable[[object], bool]] = {
        "prompts": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "n_items": lambda v: isinstance(v, dict) and not v,
        "files_sha256": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "cell_files": lambda v: isinstance(v, dict) and not v, "probes": lambda v: isinstance(v, list) and not v}
    if expected.get(field, lambda v: False)(value):
        return  # the right type after all
    with tempfile.TemporaryDirectory() as tmp:
        evil = Path(tmp) / "EVIL"
        shutil.copytree(one_cell, evil)
        path, side = _sidecar(evil)
        side[field] = value
        _write(path, side)
        line = _merge(capsys, evil)
    assert line.startswith(f"error: {path}: field '{field}") and line.endswith("; nothing merged")


# ---------------------------------------------------------------------------------------------------- publish
@pytest.fixture
def evil_published(two_cells: Path, tmp_path: Path) -> Path:
    shutil.copytree(two_cells, tmp_path / "EVIL")
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "id_ed25519").write_bytes(SECRET)
    return tmp_path / "EVIL"


def _publish(capsys: pytest.CaptureFixture[str], evil: Path) -> str:
    root = evil.parent
    return _refused(capsys, ["publish", str(root / "OUT"), "--results", str(evil)], root, root / "OUT")


def test_publish_refuses_a_symlinked_model_meta(evil_published: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    meta = next((evil_published / "results").rglob(trust.MODEL_META))
    meta.unlink()
    meta.symlink_to(tmp_path / "victim" / "id_ed25519")
    line = _publish(capsys, evil_published)
    assert line.startswith(f"error: {meta}: a symbolic link inside {evil_published}; publish refuses")
    assert line.endswith("; nothing published")


@pytest.mark.parametrize("field", ["result_file", "predictions_file"])
def test_publish_refuses_a_path_that_leaves_the_folder(evil_published: Path, capsys: pytest.CaptureFixture[str],
                                                       field: str) -> None:
    _repoint(evil_published, field, "cells/../../victim/id_ed25519")
    line = _publish(capsys, evil_published)
    assert f"field '{field}': cells/../../victim/id_ed25519: path leaves the results folder ('..')" in line


def test_publish_refuses_a_changed_pinned_file(evil_published: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = next((evil_published / "results").rglob(trust.MODEL_META))
    meta.write_bytes(meta.read_bytes().replace(b"{", b"{ ", 1))
    assert "sha256 differs from its sidecar's pin" in _publish(capsys, evil_published)


def test_publish_copies_only_pinned_files(two_cells: Path, tmp_path: Path) -> None:
    src = tmp_path / "results"
    shutil.copytree(two_cells, src)
    meta_dir = next((src / "results").rglob(trust.MODEL_META)).parent
    (meta_dir / "extra.json").write_bytes(SECRET)  # in the mteb tree, pinned by no cell
    api.publish(tmp_path / "OUT", src, with_predictions=True)
    published = [p for p in (tmp_path / "OUT").rglob("*") if p.is_file()]
    assert published and all(SECRET not in p.read_bytes() for p in published)
