from bench.studies.cli import main

raise SystemExit(main())
