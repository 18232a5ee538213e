"""Which segments a flow definition refers to, read from its JSON (SPEC §4).

Works on the raw definition so it also reads versions stored before a model change.
"""

from __future__ import annotations

from typing import Any

# Segment nodes name theirs in "segment"; condition rules in "in_segment" / "not_in_segment".
_SEGMENT_KEYS = ("segment", "in_segment", "not_in_segment")


def segment_names(definition: Any) -> set[str]:
    found: set[str] = set()
    stack = [definition]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _SEGMENT_KEYS and isinstance(value, str):
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def refers_to(definition: Any, segment_name: str) -> bool:
    """Segment names compare case-insensitively (SPEC §1)."""
    wanted = segment_name.strip().lower()
    return any(name.strip().lower() == wanted for name in segment_names(definition))
