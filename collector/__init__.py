"""The fleet collector: ingest, inventory, scans, store and metrics."""
