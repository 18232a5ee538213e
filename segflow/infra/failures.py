"""Outage or bad message: what the worker does when something fails (SPEC §5), decided here and
nowhere else, by what failed rather than by which library raised it.

- An **outage** passes by itself: the database or the broker away, busy, restarting, or a
  transaction that lost a race (serialization failure, deadlock, a cancelled statement). The batch
  is rolled back and retried from the stored offsets after a back-off (`Backoff`).
- A **message** error belongs to one record: the data cannot be stored as given (SQLSTATE classes
  22, 23, 54), or the code fails on it. The batch is split until the record is found, and it is
  dead-lettered. An error nobody listed is taken to be a message's: retrying the same record could
  only repeat it, while splitting costs a few transactions and keeps every other record moving.

docs/exactly-once.md has the table, with why for each row.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum

import psycopg
import structlog
from confluent_kafka import KafkaException
from kafka.errors import KafkaError

from consumers.failure import one_line
from segflow.errors import ServiceUnavailable

log = structlog.get_logger()


class Decision(StrEnum):
    OUTAGE = "outage"
    MESSAGE = "message"


OUTAGE_SQLSTATE_CLASSES = {
    "08": "connection exception: the connection was lost or refused",
    "53": "insufficient resources: too many connections, disk full, out of memory",
    "57": "operator intervention: admin or crash shutdown, cannot connect now, statement cancelled",
    "58": "system error: an I/O error on the server",
    "XX": "internal error: the server's, not the record's",
    "28": "invalid authorization: a password or certificate an operator changed",
    "3D": "invalid catalog name: the database is not there (yet)",
    "42": "undefined table or column, insufficient privilege: the schema or grants are not what this "
    "release expects (a migration missing, a grant revoked); no message causes it, an operator fixes it",
}
OUTAGE_SQLSTATES = {
    "40001": "serialization failure: the transaction lost a race; run again it succeeds",
    "40P01": "deadlock detected: likewise",
    "55P03": "lock not available (lock_timeout): another session holds the lock for now",
    "25P03": "idle-in-transaction timeout: the server ended a session that stalled",
    "23514/partition": "no time partition for the row yet: the worker creates it and retries",
}
MESSAGE_SQLSTATE_CLASSES = {
    "22": "data exception: a value the column cannot hold",
    "23": "integrity constraint violation: a check or key the record breaks",
    "54": "program limit exceeded: a value too large to index, a statement too complex",
}


def decide(exc: BaseException) -> Decision:
    """Whether `exc` is an outage (retry the batch later) or a message's fault (split, dead-letter)."""
    if isinstance(exc, ServiceUnavailable):
        return Decision.OUTAGE
    if isinstance(exc, psycopg.Error):
        return _decide_sqlstate(exc)
    # The broker's errors: a broker away or busy passes; one that refuses a record for what it is
    # is handled where the record is sent (consumers.dlq), so what reaches here is the broker's.
    if isinstance(exc, KafkaError | KafkaException):
        return Decision.OUTAGE
    return Decision.MESSAGE


def _decide_sqlstate(exc: psycopg.Error) -> Decision:
    state = exc.sqlstate
    if state is None:
        # No answer from the server at all: the connection is gone, or was never made.
        return (
            Decision.OUTAGE if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) else Decision.MESSAGE
        )
    if state == "23514" and (exc.diag.message_primary or "").startswith("no partition of relation"):
        return Decision.OUTAGE
    if state in OUTAGE_SQLSTATES or state[:2] in OUTAGE_SQLSTATE_CLASSES:
        return Decision.OUTAGE
    return Decision.MESSAGE


def is_outage(exc: BaseException) -> bool:
    return decide(exc) is Decision.OUTAGE


FIRST_DELAY_S = 0.2
MAX_DELAY_S = 10.0


class Backoff:
    """How long to wait before retrying, per failure site ("batch", "poll", "scheduler", ...).

    Each site's delay doubles from FIRST_DELAY_S with every failure in a row, up to MAX_DELAY_S,
    and is drawn at random from its upper half, so workers failing together do not retry in step.
    Only a committed batch (`reset`) says the worker works again: an unrelated success (a seek, a
    scheduler tick) does not, so a failure that keeps coming back is never retried at full rate.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._failures: defaultdict[str, int] = defaultdict(int)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def next_delay(self, site: str) -> float:
        """The wait before retrying `site`, counting this failure."""
        failures = self._failures[site]
        self._failures[site] = failures + 1
        ceiling = min(MAX_DELAY_S, FIRST_DELAY_S * 2**failures)
        return self._rng.uniform(ceiling / 2, ceiling) if failures else FIRST_DELAY_S

    def failures(self, site: str) -> int:
        return self._failures.get(site, 0)

    def reset(self) -> None:
        self._failures.clear()


def back_off(site: str, exc: BaseException, backoff: Backoff, wait: Callable[[float], object] = time.sleep) -> Decision:
    """Log a failure of `site` that will be retried, and wait its back-off (`wait` returns early
    when the process is asked to stop)."""
    decision = decide(exc)
    failures = backoff.failures(site)
    delay = backoff.next_delay(site)
    log.warning(
        site, error=one_line(exc), decision=str(decision),
        failures_in_a_row=failures + 1, retry_in_s=round(delay, 2),
    )  # fmt: skip
    wait(delay)
    return decision
