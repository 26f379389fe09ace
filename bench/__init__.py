"""Benchmarks and the corpus generator they use. Run with `python -m bench.<name>`."""
