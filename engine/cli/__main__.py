"""`python -m engine.cli ...` runs the `weavegraph` command line."""

from __future__ import annotations

import sys

from engine.cli.parser import main

if __name__ == "__main__":
    sys.exit(main())
