"""Studies: each runs one comparison on arrays and returns a named result (no file I/O)."""
