"""The report's page machinery: sections of HTML + Markdown, tables, embedded figures, the page and its CSS."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from harness.core import markdown as md

HTML_NAME = "report.html"
MD_NAME = "report.md"
FILES_DIR = "report_files"
DPI = 100


@dataclass
class Figure:
    name: str  # file name under report_files/
    title: str
    png: bytes  # the file's bytes: a PNG, or an SVG document when the name ends in .svg (inlined in the page)

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)

    def para(self, text: str) -> None:
        self.html.append(f"<p>{html.escape(text)}</p>")
        self.md.append(md.text(text) + "\n")  # the Markdown escapes HTML as the page does

    def table(self, df: pd.DataFrame, *, classes: list[str] | None = None, code_cols: tuple[str, ...] = (),
              nowrap: tuple[str, ...] = ()) -> None:
        self.html.append(_html_table(df, classes=classes, code_cols=code_cols, nowrap=nowrap))
        self.md.append(md_table(df, code_cols=code_cols) + "\n")

    def figure(self, fig: Figure) -> None:
        body = (_inline_svg(fig.png) if fig.name.endswith(".svg")  # inline: its text is the page's text
                else f'<img alt="{html.escape(fig.title)}" src="{fig.data_uri()}">')
        self.html.append(f"<figure>{body}<figcaption>{html.escape(fig.title)}</figcaption></figure>")
        alt = md.text(fig.title).replace("[", "\\[").replace("]", "\\]")
        self.md.append(f"![{alt}]({FILES_DIR}/{quote(fig.name)})\n")

    def pre(self, text: str) -> None:
        self.html.append(f"<pre>{html.escape(text)}</pre>")
        self.md.append(md.fence(text) + "\n")


SVG_NS = ' xmlns="http://www.w3.org/2000/svg"'


def _inline_svg(doc: bytes) -> str:
    """An SVG document as an element of the page (HTML5 needs no namespace: the page names no URL)."""
    return doc.decode("utf-8").replace(SVG_NS, "", 1)


def _cell_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    return str(v)


def _html_table(df: pd.DataFrame, *, classes: list[str] | None = None, code_cols: tuple[str, ...] = (),
                nowrap: tuple[str, ...] = ()) -> str:
    """Cells wrap at spaces (so a table fits the page), except the ``nowrap`` columns (numbers with intervals)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, (_, row) in enumerate(df.iterrows()):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = []
        for c in df.columns:
            text = html.escape(_cell_text(row[c]))
            td = '<td class="wrap">' if len(text) > 60 else ('<td class="nowrap">' if c in nowrap else "<td>")
            cells.append(f"{td}<code>{text}</code></td>" if c in code_cols else f"{td}{text}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def md_table(df: pd.DataFrame, *, code_cols: tuple[str, ...] = ()) -> str:
    """A Markdown table whose every cell and heading is HTML-escaped (:mod:`harness.core.markdown`)."""
    def esc(v: Any, col: str) -> str:
        t = _cell_text(v)
        return md.code(t.replace("\n", "\\n")) if col in code_cols and t != "—" else md.text(t.replace("\n", "\\n"))

    lines = ["| " + " | ".join(md.text(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(esc(row[c], c) for c in df.columns) + " |" for _, row in df.iterrows()]
    return "\n".join(lines)


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    no_mathtext()
    import matplotlib.pyplot as plt

    return plt


def no_mathtext() -> None:
    """Every string the figures draw comes from files (model folders, task names, words, prefixes): a ``$`` in
    one is a dollar sign, never mathtext (``a$x^$b`` would otherwise abort the drawing)."""
    import matplotlib

    matplotlib.rcParams["text.parse_math"] = False


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.86rem}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
.scroll{overflow-x:auto}
th{background:#f4f4f4}td.wrap{min-width:20rem}td.nowrap{white-space:nowrap}
details{margin:.6rem 0}summary{cursor:pointer;color:#333}
.headline h3{margin:.9rem 0 .2rem}.headline ul{margin:.2rem 0}.up{color:#1a7f37}.down{color:#c0392b}
tr.sig-up td{background:#e6f4ea}tr.sig-down td{background:#fde8e8}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82rem;white-space:pre-wrap}
pre{background:#f7f7f7;padding:.6rem;overflow-x:auto;font-size:.8rem}
figure{margin:1rem 0}figure img,figure svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}.muted{color:#666;font-size:.9rem}
nav a{margin-right:.8rem}
"""


def _anchor(title: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in title).strip("-")


def page_html(sections: list[Section], results_dir: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<h2 id="{_anchor(s.title)}">{html.escape(s.title)}</h2>' + "".join(s.html) for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Instruction harness report</title><style>{CSS}</style></head><body>"
            f"<h1>Do instructions change what embedding models do?</h1>"
            f"<p class=\"muted\">Report of {html.escape(str(results_dir))}, generated {stamp} by "
            "<code>harness aggregate</code>.</p>"
            f"<nav>{nav}</nav>{body}</body></html>\n")


def page_md(sections: list[Section]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["# Do instructions change what embedding models do?\n",
             f"Generated {stamp} by `harness aggregate`; the same report with embedded images: `{HTML_NAME}`.\n"]
    for s in sections:
        parts.append(f"## {md.text(s.title)}\n")
        parts += s.md
    return "\n".join(parts)
