"""The `weavegraph` command line (entry point `engine.cli:main`), one module per command group:
`run` (run, step, validate), `browse` (sessions, steps, stats), `admin` (prune, migrate), `transfer`
(export, import); `parser` builds the arguments and runs a command, `support` holds what they share."""

from __future__ import annotations

from engine.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
