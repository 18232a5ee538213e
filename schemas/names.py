"""What a name a person types may hold: store ids and names, segment names (in commands, in
files, in flow definitions). One rule, so a name one entry point accepts every other accepts."""

from __future__ import annotations

import unicodedata

MAX_SEGMENT_NAME = 100

# Unicode categories a name may not contain: they are invisible, or look like something else,
# or break a line. Cf holds the zero-width characters and the bidirectional controls, which make
# two different names look the same ("VIP" and "VIP\u200b") or reorder what a reader sees.
_HIDDEN = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (zero-width or bidirectional)",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def hidden_character(text: str) -> str | None:
    """What is wrong with the first character a name may not hold, or None."""
    for char in text:
        what = _HIDDEN.get(unicodedata.category(char))
        if what:
            return f"contains {what} (U+{ord(char):04X})"
    return None


def segment_name_problem(name: str) -> str | None:
    """Why `name`, as written, cannot be a segment's name, or None. Commands strip what a user
    types first; a flow definition must name the segment exactly."""
    if not name.strip():
        return "is empty"
    if name != name.strip():
        return "has spaces at its start or end"
    if len(name) > MAX_SEGMENT_NAME:
        return f"is {len(name)} characters; the limit is {MAX_SEGMENT_NAME}"
    return hidden_character(name)
