"""Deterministic ids: the same cause always yields the same id (SPEC §3).

sha256 over explicit fields, never `hash()` (salted per process) or uuid4.
"""

from __future__ import annotations

import hashlib


def event_id(*parts: str | int) -> str:
    """`evt_` + 32 hex chars of sha256 over the parts, joined unambiguously."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"evt_{digest[:32]}"


def customer_key(store_id: str, email: str) -> str:
    """Kafka key of a customer's events, input and output alike (SPEC §2)."""
    return f"{store_id}:{email}"
