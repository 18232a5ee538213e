"""Sending dead letters (SPEC §2), so that one bad message can never stop the worker.

A batch's dead letters are sent, and acknowledged, before the batch commits, so none is lost.
Every letter is bounded (`DeadLetter.value` keeps at most `dlq_max_original_bytes` of the
original), so it fits on the topic. If the broker still refuses one for its size or content (a
broker configured with a smaller `max.message.bytes`), it is sent again without the original,
only its size and hash. Retrying could not fix those errors; the broker being unreachable is
the one kind that is raised, for the worker to back off and retry the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError, RetriableError

from consumers.events import DeadLetter
from consumers.failure import one_line

log = structlog.get_logger()

SEND_TIMEOUT_S = 30.0
"""A batch's dead letters are acknowledged within this, or the batch (whose transaction waits
for them) is rolled back and retried as in an outage."""


class DeadLetterRefused(RetriableError):  # type: ignore[misc]
    """The broker refused even a dead letter without its original: a broker setting (an ACL, a tiny
    `max.message.bytes`) an operator must fix. Retried with back-off like an outage, and logged."""


class DeadLetterSender:
    def __init__(self, open_producer: Callable[[], KafkaProducer], topic: str, max_original: int) -> None:
        self._open_producer = open_producer
        self._producer: KafkaProducer | None = None
        self.topic = topic
        self.max_original = max_original

    def send(self, dead: Sequence[DeadLetter], failed_at: datetime) -> None:
        """Send the letters and wait for the broker to acknowledge every one."""
        for letter in dead:
            record = letter.record
            log.warning(
                "dead_lettered", topic=record.topic, partition=record.partition, offset=record.offset,
                reason=letter.reason, size=len(record.value or b""),
            )  # fmt: skip
        refused = self._send(dead, failed_at, self.max_original)
        if not refused:
            return
        self.close()  # a producer that had records refused is not trusted with the next ones
        refused = self._send([letter for letter, _error in refused], failed_at, max_original=0)
        if refused:
            letter, error = refused[0]
            log.error(
                "dead_letter_refused", topic=self.topic, partition=letter.record.partition,
                offset=letter.record.offset, error=error,
            )  # fmt: skip
            self.close()
            raise DeadLetterRefused(f"{self.topic} refused a dead letter even without its original: {error}")

    def _send(self, dead: Sequence[DeadLetter], failed_at: datetime, max_original: int) -> list[tuple[DeadLetter, str]]:
        """Send, keeping `max_original` bytes of each original; returns the letters the broker or the
        producer refused for what they are, with why. Raises what retrying can fix."""
        if self._producer is None:
            self._producer = self._open_producer()
        producer = self._producer
        refused: list[tuple[DeadLetter, str]] = []
        sent = []
        for letter in dead:
            value = letter.value(failed_at, max_original)
            try:
                sent.append((letter, producer.send(self.topic, key=letter.key(), value=value)))
            except RetriableError:
                raise
            except KafkaError as exc:  # refused before sending: over the producer's own size limit
                refused.append((letter, one_line(exc)))
        producer.flush(timeout=SEND_TIMEOUT_S)  # raises KafkaTimeoutError (an outage) when the broker is away
        for letter, future in sent:
            try:
                future.get(timeout=SEND_TIMEOUT_S)
            except RetriableError:
                raise
            except KafkaError as exc:  # the broker's answer: too large, invalid record
                refused.append((letter, one_line(exc)))
        for letter, error in refused:
            record = letter.record
            log.warning(
                "dead_letter_refused_by_size", partition=record.partition, offset=record.offset,
                original_kept=max_original, error=error,
            )  # fmt: skip
        return refused

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except KafkaError as exc:
                log.warning("dead_letter_producer_close_failed", error=one_line(exc))
