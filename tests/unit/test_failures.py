"""Outage or bad message, by what failed (SPEC §5), and the back-off that grows until a batch commits."""

import random

import psycopg
import pytest
from confluent_kafka import KafkaError as ConfluentError
from confluent_kafka import KafkaException
from kafka import errors as kafka_errors

from consumers.dlq import DeadLetterRefused
from segflow.errors import ServiceUnavailable
from segflow.infra.failures import FIRST_DELAY_S, MAX_DELAY_S, Backoff, Decision, decide

pytestmark = pytest.mark.unit


def sqlstate(code: str) -> psycopg.Error:
    return psycopg.errors.lookup(code)("as the server says it")


@pytest.mark.parametrize(
    ("exc", "decision"),
    [
        (psycopg.OperationalError("connection lost, no SQLSTATE"), Decision.OUTAGE),
        (psycopg.InterfaceError("the connection is closed"), Decision.OUTAGE),
        (sqlstate("08006"), Decision.OUTAGE),  # connection failure
        (sqlstate("57P01"), Decision.OUTAGE),  # admin shutdown
        (sqlstate("57014"), Decision.OUTAGE),  # statement cancelled (SEGFLOW_STATEMENT_TIMEOUT)
        (sqlstate("53300"), Decision.OUTAGE),  # too many connections
        (sqlstate("40001"), Decision.OUTAGE),  # serialization failure
        (sqlstate("40P01"), Decision.OUTAGE),  # deadlock
        (sqlstate("25P03"), Decision.OUTAGE),  # idle-in-transaction timeout
        (sqlstate("42P01"), Decision.OUTAGE),  # a table missing: a migration, not a message
        (sqlstate("22021"), Decision.MESSAGE),  # bad byte sequence
        (sqlstate("23505"), Decision.MESSAGE),  # unique violation
        (sqlstate("54000"), Decision.MESSAGE),  # program limit: a psycopg OperationalError, still a message's
        (sqlstate("P0001"), Decision.MESSAGE),  # raised by a trigger: a bug a record triggers
        (ServiceUnavailable("cannot connect to PostgreSQL"), Decision.OUTAGE),
        (kafka_errors.KafkaConnectionError("no broker answers"), Decision.OUTAGE),
        (kafka_errors.KafkaTimeoutError(), Decision.OUTAGE),
        (kafka_errors.TopicAuthorizationFailedError(), Decision.OUTAGE),  # not retriable, still the broker's
        (DeadLetterRefused("the DLQ topic refused"), Decision.OUTAGE),
        (KafkaException(ConfluentError(ConfluentError._TRANSPORT)), Decision.OUTAGE),
        (ValueError("a bug a record triggers"), Decision.MESSAGE),
    ],
)
def test_decided_by_what_failed(exc, decision):
    assert decision is decide(exc)


def test_the_back_off_doubles_per_site_with_jitter_up_to_the_cap_and_only_reset_resets_it():
    backoff = Backoff(random.Random(7))
    delays = [backoff.next_delay("batch_failed") for _ in range(12)]
    assert FIRST_DELAY_S == delays[0]
    for n, delay in enumerate(delays[1:], start=1):
        ceiling = min(MAX_DELAY_S, FIRST_DELAY_S * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert MAX_DELAY_S / 2 <= delays[-1] <= MAX_DELAY_S
    assert len(set(delays[-4:])) == 4  # jittered, not in step
    assert FIRST_DELAY_S == backoff.next_delay("poll_failed")  # another site has its own count
    assert delays[-1] / 2 <= backoff.next_delay("batch_failed")  # still long: nothing committed
    backoff.reset()  # a committed batch
    assert FIRST_DELAY_S == backoff.next_delay("batch_failed")
