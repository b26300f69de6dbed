"""A real harness run in its own process, on the seeded mock encoder: `python -m tests.mock_run RESULTS [TASK ...]`.

Used by the reliability tests to kill a real run at chosen points (HARNESS_FAULT)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec


def main() -> int:
    results = Path(sys.argv[1])
    tasks = sys.argv[2:] or None
    try:
        api.run([mock_spec()], tasks=tasks, conditions=["none", "blog"], results_dir=results, progress=False)
        api.aggregate(results)
    except HarnessError as e:  # as the CLI prints it
        for line in e.lines():
            print(f"{e.prefix}{line}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
