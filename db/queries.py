"""Named SQL blocks from queries.sql, parsed once at import.

A block starts with `-- name: NAME` and a line saying why it exists. Modules fetch their
statements at import time with `sql("NAME")`, so a misspelt name fails at import, not in use.
"""

from __future__ import annotations

import re
from importlib.resources import files

_NAME = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    blocks: dict[str, str] = {}
    parts = _NAME.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in blocks:
            raise ValueError(f"queries.sql defines {name!r} twice")
        statement = "\n".join(line for line in body.strip().splitlines() if not line.startswith("--"))
        blocks[name] = statement.strip().rstrip(";")
    return blocks


QUERIES = parse(files("db").joinpath("queries.sql").read_text(encoding="utf-8"))


def sql(name: str) -> str:
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in db/queries.sql") from None
