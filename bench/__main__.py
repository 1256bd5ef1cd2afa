"""`python -m bench ...` is `diffbench ...`."""

import sys

from bench.commands import main

if __name__ == "__main__":
    sys.exit(main())
