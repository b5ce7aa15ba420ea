"""Benchmarks: run with ``make bench`` (or the individual ``make bench-…`` targets)."""
