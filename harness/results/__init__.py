"""The results folder's contract: where each file of a cell lives (``layout``) and the schemas and versions of
every table (``schema``). Written by :mod:`harness.run`, read by :mod:`harness.analysis` and
:mod:`harness.report`, which never import each other's internals — only this.

May import: :mod:`harness.core` only (plus pandas and pyarrow).
"""
