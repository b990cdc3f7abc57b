"""Benchmarks run from `make bench` (not from `make test`)."""
