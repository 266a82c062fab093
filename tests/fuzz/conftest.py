"""The fuzz targets run under `make fuzz` (atheris, or random inputs), never under pytest."""

collect_ignore = ["ingest_target.py"]
