"""The first name of `python -m bench.step_latency` (pruned UNets were its first use); kept so
the commands on the 2026-12-01 results pages still run."""

from bench.step_latency import main

if __name__ == "__main__":
    raise SystemExit(main())
