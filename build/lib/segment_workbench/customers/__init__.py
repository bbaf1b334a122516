"""The customer table and the engine (ibis on DuckDB or the source database) that aggregates it."""
