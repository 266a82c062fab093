"""Benchmarks: ratios to floors measured in the same run (see ../shared/perf.md §5)."""
