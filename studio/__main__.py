"""`python -m studio`: the same as `weavegraph-studio`."""

from __future__ import annotations

from studio.app import main

raise SystemExit(main())
