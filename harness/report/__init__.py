"""What people read: the HTML/Markdown report and the figures, drawn from the files of a results folder.

- ``build``: ``report.html`` (self-contained) and ``report.md``, section by section;
- ``figures``: the report's charts and tables (deltas with CIs, pair tables, embedding shift, prefixes);
- ``heatmaps``: the word × word cosine heatmaps (SVG: colour-mapped panel images, words as text);
- ``figure_cache``: every figure keyed by the sha256 of its inputs and code, so only what changed is drawn;
- ``controls``: the control-condition sections (effect decomposition, paraphrase spread, bump charts of ranks);
- ``html``: sections, tables, embedded figures, the page;
- ``plots``: the language-split figures under ``plots/``.

Reads files only. May import: :mod:`harness.analysis`, :mod:`harness.results`, :mod:`harness.prompts`
(condition names and order) and :mod:`harness.core`. Never :mod:`harness.run` or :mod:`harness.models`.
"""
