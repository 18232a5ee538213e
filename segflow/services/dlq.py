"""Dead letters (SPEC §2, §9): list them, and replay their originals to the input topic once the
cause is fixed (the missing store created, say).

Replaying sends the original bytes with the original key. A dead letter is recorded as replayed
in the transaction that commits only after the broker acknowledged the send, so replaying it
again sends nothing; events the worker applied already are skipped by its duplicate check.
A letter whose original was not kept whole (larger than `dlq_max_original_bytes`, or refused by
the broker and sent without it) or whose key was cut cannot be replayed, and is counted as
skipped with why. Nor, unless asked (`include_invalid`), is one whose original no later fix can
make an event (not JSON, a field missing or malformed: the worker's own check says so): sent
back, it would only be dead-lettered again, a new copy on the topic each time.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from consumers import kafka as kafka_clients
from db import Conn
from db import dlq as dlq_rows
from schemas.events import DeadLetterRecord, DeadLetterSource, check_value
from segflow.errors import InvalidInput
from segflow.infra.config import Config
from segflow.infra.embedded import require_broker

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Letter:
    partition: int
    offset: int
    """Where the letter is on the dead-letter topic."""
    failed_at: str | None
    reason: str
    source: DeadLetterSource | None
    """Where the original message was."""
    key: bytes | None
    original: bytes | None
    """The original message, or None when it was not kept whole."""
    unreplayable: str | None
    """Why the letter cannot be replayed; None when it can."""
    invalid: str | None = None
    """Why its original can never be an event (the worker's check), or None: such a letter is
    sent only when asked."""

    @property
    def position(self) -> tuple[int, int]:
        return (self.partition, self.offset)


def parse(partition: int, offset: int, key: bytes | None, value: bytes | None) -> Letter:
    """One record of the dead-letter topic; a value that is not a dead letter is listed as such."""
    document = DeadLetterRecord.parse(value)
    if document is None:
        return Letter(partition, offset, None, "not a segflow dead letter", None, key, None, "it is not a dead letter")
    original: bytes | None = None
    why = None
    if document.original_truncated:
        why = "its original was not kept whole"
    elif document.key_size is not None:
        why = "its key was cut"
    else:
        try:
            original = base64.b64decode(document.original, validate=True)
        except (binascii.Error, ValueError):
            why = "its original is not base64"
    checked = check_value(original) if original is not None else None
    return Letter(
        partition=partition, offset=offset, failed_at=document.failed_at.isoformat(),
        reason=document.reason, source=document.source, key=key, original=original,
        unreplayable=why, invalid=checked if isinstance(checked, str) else None,
    )  # fmt: skip


NOT_AN_EVENT = "not a valid event"
REPLAYED_BEFORE = "replayed before"


def _left_out(letter: Letter, include_invalid: bool = False) -> str | None:
    """Why a replay leaves the letter out whatever was replayed before (its original not kept
    whole, or not an event unless `include_invalid`), or None."""
    if letter.unreplayable is not None:
        return letter.unreplayable
    if letter.invalid is not None and not include_invalid:
        return NOT_AN_EVENT
    return None


def why_not_replayable(letter: Letter, replayed: set[tuple[int, int]]) -> str | None:
    """Why `dlq replay --all` would not send the letter (SPEC §9), or None when it would."""
    left_out = _left_out(letter)
    if left_out == NOT_AN_EVENT:
        return f"{NOT_AN_EVENT}: {letter.invalid}"
    return left_out or (REPLAYED_BEFORE if letter.position in replayed else None)


def replayed_of(conn: Conn, config: Config, letters: list[Letter]) -> set[tuple[int, int]]:
    """Which of the letters were replayed before."""
    return dlq_rows.replayed(conn, config.dlq_topic, [letter.position for letter in letters]) if letters else set()


def read(config: Config) -> list[Letter]:
    """Every dead letter, in topic order (partition, then offset)."""
    require_broker(config.kafka_bootstrap)
    records = kafka_clients.read_all(config.kafka_bootstrap, config.dlq_topic, "segflow-dlq")
    letters = [parse(r.partition, r.offset, r.key, r.value) for r in records]
    return sorted(letters, key=lambda letter: letter.position)


def matching(letters: list[Letter], reason: str | None) -> list[Letter]:
    """Those whose reason contains `reason` (ignoring case)."""
    if reason is None:
        return letters
    wanted = reason.casefold()
    return [letter for letter in letters if wanted in letter.reason.casefold()]


def parse_position(text: str) -> tuple[int, int]:
    """`N` (partition 0, which is all the worker creates) or `P:N`."""
    partition, _, offset = text.rpartition(":")
    try:
        position = (int(partition) if partition else 0, int(offset))
    except ValueError:
        raise InvalidInput(f"--offset {text!r} is not an offset (N, or P:N for partition P)") from None
    if position[0] < 0 or position[1] < 0:
        raise InvalidInput(f"--offset {text!r} is negative")
    return position


@dataclass(frozen=True, slots=True)
class Replay:
    replayed: int
    skipped: int
    """Chosen but not sent: replayed before, or not replayable (see `why_skipped`)."""
    dry_run: bool
    why_skipped: dict[str, int]


def replay(
    conn: Conn,
    config: Config,
    positions: list[tuple[int, int]] | None,
    reason: str | None,
    dry_run: bool,
    include_invalid: bool = False,
) -> Replay:
    """Send the chosen dead letters' originals to the input topic: those at `positions`, or with
    None every one; either way only those whose reason contains `reason`, and only those whose
    original is an event unless `include_invalid`."""
    letters = read(config)
    if positions is not None:
        found = {letter.position: letter for letter in letters}
        missing = [p for p in positions if p not in found]
        if missing:
            where = ", ".join(f"{p}:{o}" if p else str(o) for p, o in missing)
            raise InvalidInput(f"no dead letter at offset {where} of topic {config.dlq_topic}; nothing was sent")
        letters = [found[p] for p in dict.fromkeys(positions)]
    chosen = matching(letters, reason)
    why: dict[str, int] = {}
    ready: list[Letter] = []
    for letter in chosen:
        left_out = _left_out(letter, include_invalid)
        if left_out is None:
            ready.append(letter)
        else:
            why[left_out] = why.get(left_out, 0) + 1
    wanted = [letter.position for letter in ready]
    if dry_run:
        before = dlq_rows.replayed(conn, config.dlq_topic, wanted) if wanted else set()
        sent = [letter for letter in ready if letter.position not in before]
    else:
        with conn.transaction():
            fresh = dlq_rows.claim(conn, config.dlq_topic, wanted, datetime.now(UTC)) if wanted else set()
            sent = [letter for letter in ready if letter.position in fresh]
            _send(config, sent)  # before the commit: a send that fails records nothing
    if len(ready) > len(sent):
        why[REPLAYED_BEFORE] = len(ready) - len(sent)
    log.info("dlq_replayed", replayed=len(sent), skipped=len(chosen) - len(sent), dry_run=dry_run)
    return Replay(len(sent), len(chosen) - len(sent), dry_run, why)


def _send(config: Config, letters: list[Letter]) -> None:
    if not letters:
        return
    producer = kafka_clients.producer(config.kafka_bootstrap, client_id="segflow-dlq-replay")
    try:
        futures = [producer.send(config.input_topic, key=letter.key, value=letter.original) for letter in letters]
        producer.flush()
        for future in futures:
            future.get(timeout=kafka_clients.REQUEST_TIMEOUT_MS / 1000)
    finally:
        producer.close()
