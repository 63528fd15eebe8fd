"""Benchmarks of the Weavegraph engine against LangGraph: `python -m bench` (see bench/README.md)."""
