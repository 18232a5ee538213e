"""The pure flow engine: flow definition + run state + event -> new state + effects.

No I/O here: no psycopg, kafka, structlog, os.environ, clocks or randomness (STYLE.md).
"""
