from harness.perf.bench import main

raise SystemExit(main())
