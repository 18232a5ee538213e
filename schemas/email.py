"""Customer emails: the one rule for what is an email and which customer it is (SPEC §1).

Every entry point uses `normalise_email`: events, `customers import`, `segments add`, `remove`
and `import`, Klaviyo profiles, the console. An address is syntactically valid per the
email-validator package, without a deliverability check, and special-use domains such as
`.test` and `.local` are accepted (a store's test customers live there). The result is the
validator's normalised form (Unicode NFC, so the NFC and NFD spellings of `josé@…` are one
customer), trimmed and lower-cased (SPEC §1: case-insensitive).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from types import ModuleType

MAX_RAW_LENGTH = 1_000  # far beyond any valid address (254): no validator work on megabytes


def normalise_email(raw: str) -> str:
    """The normalised email, or ValueError with a reason that quotes the input."""
    email = raw.strip()
    if not email:
        raise ValueError("email is empty")
    if len(email) > MAX_RAW_LENGTH:
        raise ValueError(f"{email[:40]!r}… is {len(email):,} characters; an email has at most 254")
    return _normalised(email)


# Addresses of the plainest shape, which the validator accepts as they are, lower-cased: dotted
# atoms of letters, digits and `_+-` before the @, at most 64 characters; after it, two or more
# labels of letters, digits and inner hyphens (no `--`: IDNA reserves it), at most 63 each,
# ending in a label of letters. Most addresses are of this shape; they skip the validator (about
# 50 µs an address, the larger part of an 8,900-row import). Any other address is the
# validator's to judge. tests/unit/test_email.py checks the two agree on whatever this admits.
_PLAIN = re.compile(
    r"(?=.{6,254}$)(?=[^@]{1,64}@)"
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"
    r"@(?:(?!-)(?![a-z0-9-]*--)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}"
)


@lru_cache(maxsize=65_536)
def _normalised(email: str) -> str:
    """Cached: the validator takes ~50 µs an address, and a busy store's events repeat their
    customers. Bounded: a few MB, whatever the number of customers."""
    lowered = email.lower()
    if lowered.isascii() and _PLAIN.fullmatch(lowered):
        return lowered
    validator = _validator()
    try:
        validated = validator.validate_email(email, check_deliverability=False)
    except validator.EmailNotValidError as exc:
        why = str(exc).rstrip(".")
        raise ValueError(f"{email!r} is not a valid email: {why[:1].lower()}{why[1:]}") from None
    return unicodedata.normalize("NFC", validated.normalized.lower())


@cache
def _validator() -> ModuleType:
    """email-validator, loaded at the first address: compiling its rules takes ~40 ms, which a
    command that reads no address (`segments list`) should not pay."""
    import email_validator

    # It refuses special-use domains (RFC 6761) even without a deliverability check; its
    # documented way to allow them is to change this list, which it reads at each call.
    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    return email_validator
