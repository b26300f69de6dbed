"""The docs site: its generated pages (CLI reference, table schemas) match the code, `mkdocs build --strict` passes
with no warning (and does fail on a broken link, so the check has teeth), and every relative link in README.md
points at a file that exists."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

MKDOCS = Path(sys.executable).with_name("mkdocs")


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_pages_are_up_to_date() -> None:
    gen = _generator()
    assert gen.stale() == [], "run `make docs` (python docs/gen_reference.py) and commit docs/reference/"


def test_cli_page_lists_every_command_and_option() -> None:
    from harness.cli import build_parser

    gen = _generator()
    page = gen.cli_page()
    commands = gen._commands(build_parser(), [])
    assert {"run", "aggregate", "compare", "publish", "merge", "ls", "validate"} <= {w[0] for w, _, _ in commands}
    for words, _, sub in commands:
        assert f"## harness {' '.join(words)}\n" in page
        for action in sub._actions:
            for opt in action.option_strings:
                if opt not in ("-h", "--help"):
                    assert f"`{opt}`" in page, (words, opt)


def test_schemas_page_documents_every_column() -> None:
    from harness.results.columns import SCHEMAS

    page = _generator().schemas_page()
    for table, schema in SCHEMAS.items():
        section = page.split(f"## {table}\n", 1)[1].split("\n## ", 1)[0]
        assert [f.name for f in schema] == re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(MKDOCS), "build", "--strict", "-f", str(config), "--site-dir", str(site)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=config.parent)


@pytest.mark.skipif(not MKDOCS.exists(), reason="mkdocs not installed in this environment (make install)")
def test_docs_site_builds_strict_without_warnings(tmp_path: Path) -> None:
    out = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stdout + out.stderr
    for page in ("index.html", "reference/cli/index.html", "reference/schemas/index.html", "reference/api/index.html",
                 "findings/findings/index.html", "reliability/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "reference/api/index.html").read_text(encoding="utf-8")
    assert 'id="harness.api.run"' in api and 'id="harness.api.aggregate"' in api  # mkdocstrings rendered the API


@pytest.mark.skipif(not MKDOCS.exists(), reason="mkdocs not installed in this environment (make install)")
def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    (copy / "harness").symlink_to(ROOT / "harness")  # mkdocstrings reads the package from paths: [.]
    page = copy / "docs" / "concepts.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [nowhere](no-such-page.md).\n", encoding="utf-8")
    out = _build(copy / "mkdocs.yml", tmp_path / "site")
    assert out.returncode != 0
    assert "no-such-page.md" in out.stdout + out.stderr


def test_readme_links_resolve_and_it_stays_short() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 260
    links = [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme) if not re.match(r"[a-z]+://", t)]
    assert links, "the README links into the docs"
    missing = [t for t in links if not (ROOT / t).exists()]
    assert missing == []
