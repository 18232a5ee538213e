"""How a failure reads in a log field, a dead letter's reason or a report: its type and the first
line of its message. Here, the lowest layer that needs it, so every layer above uses this one."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """`TypeName: first line of the message`."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
