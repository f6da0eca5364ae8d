"""Benchmarks: `python -m benchmarks [all|SUITE ...]`, one JSON line per metric."""
