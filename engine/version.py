"""The engine's version (one place; `engine.__version__` re-exports it)."""

__version__ = "0.1.0"
