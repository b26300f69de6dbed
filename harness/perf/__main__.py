import sys

if sys.argv[1:2] == ["ray"]:  # the Ray executor against the local one: harness/perf/ray_bench.py
    from harness.perf.ray_bench import main as ray_main

    raise SystemExit(ray_main(sys.argv[2:]))
if sys.argv[1:2] == ["aggregate"]:  # harness aggregate cold, warm, +1 condition: harness/perf/aggregate_bench.py
    from harness.perf.aggregate_bench import main as aggregate_main

    raise SystemExit(aggregate_main(sys.argv[2:]))

from harness.perf.bench import main

raise SystemExit(main())
