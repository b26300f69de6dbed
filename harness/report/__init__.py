"""What people read: the HTML/Markdown report and the figures, drawn from the files of a results folder.

- ``build``: ``report.html`` (self-contained) and ``report.md``, section by section;
- ``figures``: the report's charts and tables (deltas with CIs, pair tables, heatmaps, embedding shift, prefixes);
- ``controls``: the control-condition sections (effect decomposition, paraphrase spread, bump charts of ranks);
- ``html``: sections, tables, embedded figures, the page;
- ``plots``: the language-split figures under ``plots/``.

Reads files only. May import: :mod:`harness.analysis`, :mod:`harness.results`, :mod:`harness.prompts`
(condition names and order) and :mod:`harness.core`. Never :mod:`harness.run` or :mod:`harness.models`.
"""
