"""PyInstaller entry of the `weavegraph` executable: the headless CLI's `main()`."""

from __future__ import annotations

from engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
