"""The benchmark (``make bench``, ``python -m bench``): see bench/run.py and docs/benchmarks.md."""
