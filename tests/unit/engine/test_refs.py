"""Which segments a flow refers to: Segment nodes and segment rules, nothing else (SPEC §6)."""

from engine.refs import SegmentRef, refers_to, segment_references
from schemas.flow import Flow

FLOW = Flow.model_validate(
    {
        "id": "f",
        "store_id": "acme",
        "name": "f",
        "trigger": {
            "event": "order.processed",
            "where": {"any": [{"in_segment": "Fans"}, {"field": "data.x", "op": "exists", "value": True}]},
        },
        "start": "c",
        "nodes": [
            {
                "id": "c",
                "type": "condition",
                "if": {"all": [{"not": {"not_in_segment": "VIP"}}, {"in_segment": "Big"}]},
                "then": "tag",
                "else": "act",
            },
            {
                "id": "tag",
                "type": "segment",
                "operation": "add",
                "segment": "Tagged",
                "create_if_missing": True,
                "next": None,
            },
            {
                "id": "act",
                "type": "action",
                "action": "notify",
                "params": {"segment": "Newsletter", "in_segment": "X"},
                "next": None,
            },
        ],
    }
)


def test_segment_nodes_and_rules_are_references_and_action_params_are_not():
    assert [
        SegmentRef(None, "Fans", False),
        SegmentRef("c", "VIP", False),
        SegmentRef("c", "Big", False),
        SegmentRef("tag", "Tagged", True),
    ] == segment_references(FLOW)
    assert refers_to(FLOW, " vip ")
    assert not refers_to(FLOW, "Newsletter")
