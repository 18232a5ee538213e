"""segflow: the outer shell. Command line, configuration, services and embedded infrastructure.

The engine (`engine/`, `nodes/`) is pure; `db/` and `consumers/` do I/O; this package wires them.
"""
