"""Markdown from strings that come from files (model folders, task names, instruction text, task descriptions):
every such string is HTML-escaped, as the HTML outputs escape it, because Markdown renderers (GitHub, the Hugging
Face Hub) pass raw HTML through. ``report.md`` and the dataset card build their text with these helpers only.

- :func:`text`: a string as Markdown text (HTML-escaped; ``|`` and line breaks escaped for tables);
- :func:`code`: a string as inline code — a backtick span when it holds nothing that could close the span or
  break a table, else ``<code>`` with the string HTML-escaped (the same text either way once rendered);
- :func:`fence`: a fenced block that no line of the text can close;
- :class:`Md`: a string already rendered by these helpers (tables leave it as it is).
"""

from __future__ import annotations

import html
import re


class Md(str):
    """Markdown already made safe by this module (not escaped again)."""


def text(v: object) -> Md:
    """``v`` as Markdown text: HTML-escaped, with ``|`` and line breaks escaped (safe in a table cell)."""
    if isinstance(v, Md):
        return v
    return Md(html.escape(str(v), quote=True).replace("|", "\\|").replace("\r", " ").replace("\n", " "))


_PLAIN_CODE = re.compile(r"[^`<>&|\r\n]*")


def code(v: object) -> Md:
    """``v`` as inline code that renders as exactly ``str(v)``."""
    s = str(v)
    if _PLAIN_CODE.fullmatch(s) and s.strip() == s and s:
        return Md(f"`{s}`")
    escaped = html.escape(s, quote=True).replace("|", "&#124;").replace("`", "&#96;")
    return Md(f"<code>{escaped.replace(chr(13), ' ').replace(chr(10), ' ')}</code>")


def fence(body: str, lang: str = "") -> Md:
    """``body`` in a fenced code block whose fence is longer than any run of backticks in it (nothing inside a
    fence is rendered as HTML)."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return Md(f"{ticks}{lang}\n{body}\n{ticks}")
