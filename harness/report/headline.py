"""The report's opening section: the answer per model (:mod:`harness.analysis.headline`) as HTML — which conditions
moved which main scores significantly, by how much with CIs, which conditions fed the same strings as ``none``,
and the embedding shift; the Markdown report uses the same headline as the console and the dataset card."""

from __future__ import annotations

import html

import pandas as pd

from harness.analysis import folding
from harness.analysis import headline as hl
from harness.prompts.conditions import BASELINE, order_conditions
from harness.report.html import Section

TITLE = "Headline"


def _move(m: hl.Move) -> str:
    cls = "up" if m.delta > 0 else "down"
    return (f"<li><b>{html.escape(m.where)}</b> {html.escape(m.metric)} {m.baseline_score:.3f} → {m.score:.3f}: "
            f'<span class="{cls}">Δ {m.delta:+.3f}</span> {html.escape(m.ci())}</li>')


def _model(h: hl.ModelHeadline) -> str:
    parts = [f"<h3>{html.escape(h.alias)} <span class=\"muted\">{html.escape(h.model)} @ "
             f"{html.escape(h.revision)}</span></h3><ul>"]
    folded = order_conditions(h.folded())
    if folded:
        parts.append(f"<li><b>{html.escape(folding.label([BASELINE, *folded]))}</b>: exactly the same strings on "
                     "every task, shown once below.</li>")
    for c, (same, total) in sorted(h.same_as_none.items()):
        if same < total:
            parts.append(f"<li>{html.escape(c)} = {BASELINE} on {same} of {total} tasks (it adds nothing there).</li>")
    for v in h.verdicts:
        head = f"<b>{html.escape(v.condition)}</b> vs {html.escape(v.baseline)}: "
        if v.significant:
            parts.append(f"<li>{head}{len(v.significant)} of {v.n} main scores moved significantly<ul>"
                         + "".join(_move(m) for m in v.significant) + "</ul>")
        else:
            parts.append(f"<li>{head}no significant change in {v.n} main score(s)")
        if v.other:
            top = max(v.other, key=lambda m: abs(m.delta))
            parts.append(f"<br><span class=\"muted\">not significant: {len(v.other)} (largest: "
                         f"{html.escape(top.describe())})</span>")
        parts.append("</li>")
    if h.shift:
        shifts = []
        for c in h.shift:
            roles = h.shift[c]
            text = ", ".join(f"{roles[r]:.3f} ({html.escape(r)})" for r in sorted(roles))
            tiny = " — barely moves the embeddings" if max(roles.values()) < hl.TINY_SHIFT else ""
            shifts.append(f"{html.escape(c)} {text}{tiny}")
        parts.append(f"<li>Embedding shift: {'; '.join(shifts)}.</li>")
    parts.append("</ul>")
    return "".join(parts)


def section(board: pd.DataFrame, d: pd.DataFrame) -> Section:
    sec = Section(TITLE)
    heads = hl.headlines(board, d)
    if not heads:
        sec.para("No results.")
        return sec
    sec.html += [f'<div class="headline">{_model(h)}</div>' for h in heads]
    sec.html.append(f'<p class="muted">{html.escape(hl.NOTE)}</p>')
    sec.md.append(hl.markdown(board, d) + "\n")
    return sec
