"""What a name a person types may hold: store ids and names, segment names (in commands, in
files, in flow definitions). One rule, so a name one entry point accepts every other accepts."""

from __future__ import annotations

import re
import unicodedata

MAX_SEGMENT_NAME = 100
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
"""An event type: dotted lower-case words (`order.processed`), in events and flows' triggers."""

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


# A person's name (first_name, last_name) may hold joiners and marks some scripts need (a
# Persian name holds U+200C), but no control character and no bidirectional override or isolate:
# those reverse or reorder the text around the name wherever it is shown (SPEC §1).
_REFUSED_IN_PERSON_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
PERSON_NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$"
"""The same rule as a JSON Schema pattern, for the published event schema."""


def person_name_problem(name: str) -> str | None:
    """Why `name` cannot be a customer's first or last name, or None."""
    found = _REFUSED_IN_PERSON_NAMES.search(name)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "contains a NUL character"  # as every other text field says it
    what = "a control character" if unicodedata.category(char) == "Cc" else "a bidirectional control character"
    return f"contains {what} (U+{ord(char):04X})"


def canonical(text: str) -> str:
    """The one form of a text a merchant may type in two (composed or decomposed): NFC."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def segment_name_problem(name: str) -> str | None:
    """Why `name`, as written, cannot be a segment's name, or None. Commands strip what a user
    types first; a flow definition must name the segment exactly."""
    if not name.strip():
        return "is empty"
    if name in (".", ".."):
        return "is a path step, not a name"
    if name != name.strip():
        return "has spaces at its start or end"
    if len(name) > MAX_SEGMENT_NAME:
        return f"is {len(name)} characters; the limit is {MAX_SEGMENT_NAME}"
    return hidden_character(name)
