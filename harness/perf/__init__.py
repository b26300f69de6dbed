"""``make perf``: benchmarks (not tests) that print ratios measured in one run.

- ``bench``: the grid benchmark (harness vs minimal script vs plain mteb, warm vs cold, a new condition, memory);
- ``children``: the processes it compares;
- ``stores``: the embedding-store candidates;
- ``ray_bench``: the Ray executor against the local one (speedup, Ray's fixed overhead).

A top-level tool like the CLI: may import any part of the harness.
"""
