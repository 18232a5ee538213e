"""The AsyncAPI 3.0 document of segflow's three topics (SPEC §2, §3, §12), built from the models
the worker reads and writes with, so the contract and the code never disagree.
`segflow events asyncapi` writes it; docs/asyncapi.yaml is that output, and a test fails when
the two differ.
"""

from __future__ import annotations

from typing import Any

from schemas.events import schemas_of

ASYNCAPI_VERSION = "3.0.0"
REF = "#/components/schemas/"
KEY_PATTERN = "^[^:]+:.+@.+$"
"""`<store_id>:<email>`: a store id has no colon; the email is the normalised one."""

INPUT_EXAMPLE: dict[str, Any] = {
    "event_id": "evt_0001", "type": "order.processed", "store_id": "acme", "occurred_at": "2026-11-24T12:00:00Z",
    "customer": {"email": "ann@example.com", "first_name": "Ann"}, "data": {"total_price": 120, "currency": "EUR"},
}  # fmt: skip
OUTPUT_EXAMPLE: dict[str, Any] = {
    "event_id": "4f0c2a9d6e1b7c3a5d8e9f0a1b2c3d4e", "type": "action.requested", "store_id": "acme",
    "occurred_at": "2026-11-24T12:00:00Z", "customer": {"email": "ann@example.com"},
    "cause": {"event_id": "evt_0001", "flow_id": "big-spender-credits", "flow_version": 1, "node_id": "grant"},
    "data": {"action": "credits", "params": {"percent": 6}},
}  # fmt: skip
DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "reason": "customer.email: 'ann.example.com' is not a valid email: an email address must have an @-sign",
    "source": {"topic": "segflow.customer-events", "partition": 2, "offset": 4711},
    "original": "eyJldmVudF9pZCI6ICJldnRfMDAwMiJ9", "original_size": 24,
    "original_sha256": "9a1c6bd6f7c81f4ed2b0a2e3c19a5e3f8d1b8bb5a3d0e4c6a1f2b3c4d5e6f708",
    "original_truncated": False, "failed_at": "2026-11-24T12:00:01Z",
}  # fmt: skip


def _message(
    name: str, title: str, summary: str, schema: str, example: dict[str, Any], key: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": f"{REF}{schema}"},
        "bindings": {"kafka": {"key": key, "bindingVersion": "0.5.0"}},
        "examples": [{"name": f"{name}-example", "payload": example}],
    }


def document(input_topic: str, output_topic: str, dlq_topic: str) -> dict[str, Any]:
    """The document for these topic names (the defaults in the committed file)."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "segflow",
            "version": "1",
            "description": (
                "Customer events in; segment memberships and flow events out (SPEC §2, §3). Values are UTF-8 "
                "JSON. Read the flow events with isolation.level=read_committed: the relay writes them in "
                "Kafka transactions."
            ),
        },
        "defaultContentType": "application/json",
        "channels": _channels(input_topic, output_topic, dlq_topic),
        "operations": {
            "consumeCustomerEvents": _operation("receive", "customerEvents", "customerEvent"),
            "publishFlowEvents": _operation("send", "flowEvents", "flowEvent"),
            "publishDeadLetters": _operation("send", "deadLetters", "deadLetter"),
        },
        "components": {"schemas": schemas_of(REF)},
    }


def _channels(input_topic: str, output_topic: str, dlq_topic: str) -> dict[str, Any]:
    customer_key = {
        "type": "string",
        "pattern": KEY_PATTERN,
        "description": "`<store_id>:<email>`: one customer's events stay in order on one partition.",
    }
    original_key = {"type": ["string", "null"], "description": "The original record's key, cut to 16 KiB."}
    return {
        "customerEvents": _channel(
            input_topic, "Customer events (input)",
            "Producers send here; at most 1 MiB a value. Bad records go to the dead letters.",
            _message(
                "customerEvent", "Customer event", "Something a customer did, in one store.",
                "InputEvent", INPUT_EXAMPLE, customer_key,
            ),
        ),
        "flowEvents": _channel(
            output_topic, "Flow events (output)",
            "What flows did: entries, exits, actions requested, segment changes. Exactly once.",
            _message(
                "flowEvent", "Flow event", "An effect of an input event, a timer or a merchant's operation.",
                "OutputEvent", OUTPUT_EXAMPLE, customer_key,
            ),
        ),
        "deadLetters": _channel(
            dlq_topic, "Dead letters",
            "Input records that could not be applied, and why; `segflow dlq replay` resends them.",
            _message(
                "deadLetter", "Dead letter", "An input record that could not be applied, and why.",
                "DeadLetterRecord", DEAD_LETTER_EXAMPLE, original_key,
            ),
        ),
    }  # fmt: skip


def _channel(address: str, title: str, description: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"address": address, "title": title, "description": description, "messages": {message["name"]: message}}


def _operation(action: str, channel: str, message: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
    }
