"""Customer emails: the one rule for what is the same customer (SPEC §1)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalise_email(raw: str) -> str:
    """SPEC §1: emails are case-insensitive and trimmed. Raises ValueError with a reason."""
    email = raw.strip().lower()
    if not email:
        raise ValueError("email is empty")
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError(f"{raw.strip()!r} is not a valid email") from None
    return email
