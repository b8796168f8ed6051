"""Benchmarks: `make bench` runs every bench module and prints the ratios each one measures in a single run."""
