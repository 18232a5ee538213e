"""Pydantic models at segflow's edges: flow definitions, event envelopes, `--json` reports."""
