"""segflow's own benchmarks. Run with `python -m benchmarks.<name>`; see benchmarks/README.md."""
