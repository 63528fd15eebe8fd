"""Weavegraph engine: graphs of nodes run in supersteps, with events and checkpoints."""
