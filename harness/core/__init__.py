"""The floor: what every other part of the harness may use, and which imports nothing of the harness above it.

- ``errors``: the one user-facing error type (a single line; exit code 2) and "did you mean" suggestions;
- ``offline``: the process environment that must be set before mteb/transformers are imported (offline switches,
  project paths, the MTEB cache);
- ``atomic``: atomic file writes (temporary file, fsync, rename) — results are never half-written — and the
  sha256 of a file;
- ``faults``: named fault-injection points for the reliability tests (``HARNESS_FAULT``);
- ``yamlfile``: reading the YAML files users write into pydantic schemas, every error one line with file, line
  and field;
- ``timers``: the harness's own per-component CPU and wall seconds (``harness aggregate`` logs them).

May import: the standard library, pydantic and PyYAML. Never mteb, torch or anything else of the harness.
"""
