"""PyInstaller entry of the `weavegraph-studio` executable: the studio's `main()`."""

from __future__ import annotations

from studio.app import main

if __name__ == "__main__":
    raise SystemExit(main())
