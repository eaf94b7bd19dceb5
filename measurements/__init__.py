"""Measurements: the canonical record, ingest adapters, the Parquet store and the GPU collector."""
