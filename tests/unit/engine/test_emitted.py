import json
from datetime import UTC, datetime

import pytest

from engine.batch import Batch, CustomerState, FlowSet
from engine.model import Event, MembershipView
from engine.step import CompiledFlow
from schemas.events import OutputEvent
from schemas.flow import Flow

FLOW = Flow.model_validate({
    "id": "f", "store_id": "acme", "name": "n", "trigger": {"event": "order.processed"}, "start": "w",
    "nodes": [
        {"id": "w", "type": "wait", "duration": "PT1H", "next": "gift"},
        {"id": "gift", "type": "action", "action": "free_gift", "params": {"sku": "ü-1"}, "next": "tag"},
        {"id": "tag", "type": "segment", "operation": "add", "segment": "VIP", "next": None},
    ],
})  # fmt: skip


@pytest.mark.parametrize(
    "at", [datetime(2026, 11, 1, 8, tzinfo=UTC), datetime(2026, 11, 1, 8, 0, 0, 120000, tzinfo=UTC)]
)
def test_every_emitted_event_is_a_valid_output_event_with_the_same_json(at):
    flows = FlowSet()
    flows.add(CompiledFlow.of(FLOW, 3), "active", latest=True)
    view = MembershipView()
    view.create("VIP")
    batch = Batch("acme", flows, view)
    ann = CustomerState("ann@example.com", {"email": "ann@example.com"})
    batch.on_event(ann, Event("e1", "order.processed", at, {}), at)
    batch.on_timer(ann, ann.runs[0].key, at.replace(hour=10))
    emitted = batch.events()
    assert {"flow.entered", "action.requested", "segment.member_added", "flow.completed"} == {e.type for e in emitted}
    for event in emitted:
        payload = event.payload_json()
        model = OutputEvent.model_validate_json(payload)  # strict: an unknown or missing field fails
        assert json.loads(payload) == json.loads(model.model_dump_json(exclude_none=True))
    timer = next(e for e in emitted if e.type == "flow.completed")
    assert json.loads(timer.payload_json())["cause"] == {
        "flow_id": "f", "flow_version": 3, "node_id": "tag", "operation": "timer", "operation_id": timer.cause.operation_id,
    }  # fmt: skip
