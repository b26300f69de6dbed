"""A real harness run in its own process, on the seeded mock encoder:
`python -m tests.mock_run RESULTS [TASK ...] [--ray ADDRESS]`.

Used by the reliability tests to kill a real run at chosen points (HARNESS_FAULT); with ``--ray ADDRESS`` the run
uses the Ray executor on the cluster at ADDRESS (the Ray executor's killed-driver test)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec


def main() -> int:
    args = sys.argv[1:]
    ray_address = None
    if "--ray" in args:
        i = args.index("--ray")
        ray_address = args[i + 1]
        del args[i:i + 2]
    results = Path(args[0])
    tasks = args[1:] or None
    ray = {"executor": "ray", "ray_address": ray_address, "threads": 1} if ray_address else {}
    try:
        api.run([mock_spec()], tasks=tasks, conditions=["none", "blog"], results_dir=results, progress=False, **ray)
        api.aggregate(results)
    except HarnessError as e:  # as the CLI prints it
        for line in e.lines():
            print(f"{e.prefix}{line}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
