"""Readers for checkpoint databases written by other frameworks (today: LangGraph's savers)."""

__all__: list[str] = []
