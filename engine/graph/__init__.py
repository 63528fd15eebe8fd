"""Graph definitions: the builder, compile-time validation, documents and node types."""
