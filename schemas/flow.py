"""Flow definitions as flow authors write them (SPEC §4). `segflow flows schema` prints these.

Strict: an unknown field is an error. Each node type has a `Literal` tag and the union is
discriminated on `type`; rules are discriminated on which key they carry.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

from schemas.docs import describe_fields
from schemas.names import EVENT_TYPE_PATTERN, canonical, segment_name_problem

MAX_NODES = 500
FLOW_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,99}$"
NODE_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
FIELD_PATTERN = r"^(data|customer)\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"
PATTERNS_IN_WORDS = {
    FLOW_ID_PATTERN: "must be 1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    NODE_ID_PATTERN: "may hold letters, digits and _ . : - only",
    EVENT_TYPE_PATTERN: "must be a dotted lowercase event type such as order.processed",
    FIELD_PATTERN: "must be data.<path> (the event's data) or customer.<field>",
}
"""What each pattern asks, as `flows validate` says it to an author."""


AS_DEPLOYED = {"as_deployed": True}
"""Validation context of a stored version: content rules that came after it was deployed let it
through (SPEC §5, upgrades keep deployed flows running). Such rules check `_as_deployed(info)`;
the shapes the engine needs to run a flow are enforced always."""


def _as_deployed(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("as_deployed"))


def _segment_name(name: str, info: ValidationInfo) -> str:
    problem = None if _as_deployed(info) else segment_name_problem(name)
    if problem:
        raise ValueError(f"segment name {name!a} {problem}")
    return canonical(name)  # "Café" composed or decomposed is one segment (SPEC §1)


SegmentName = Annotated[str, AfterValidator(_segment_name)]
"""The rule `segments create` applies (schemas.names), so a flow cannot name a segment that
could never exist."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, json_schema_extra=describe_fields)


# --- rules -----------------------------------------------------------------------------------

FieldOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"]


class InSegmentRule(Strict):
    in_segment: SegmentName
    """True when the customer is a member of this segment (name, case-insensitive)."""


class NotInSegmentRule(Strict):
    not_in_segment: SegmentName
    """True when the customer is not a member of this segment."""


class FieldRule(Strict):
    field: str = Field(pattern=FIELD_PATTERN)
    """`data.<path>` (the event's data) or `customer.<field>`."""
    op: FieldOp
    """`exists` takes true or false; on a missing field every other op is false."""
    value: Any = None

    @field_validator("value", mode="after")
    @classmethod
    def _fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")  # validated before value, which is declared after it
        if _as_deployed(info):
            return value  # the engine reads `exists` as truthiness, `in` of a non-list as false
        if op == "exists" and not isinstance(value, bool):
            raise ValueError("exists takes true or false")
        if op in ("in", "not_in") and not isinstance(value, list):
            raise ValueError(f"{op} takes a list")
        return value


class AllRule(Strict):
    all: list[Rule] = Field(min_length=1)
    """True when every rule is true."""


class AnyRule(Strict):
    any: list[Rule] = Field(min_length=1)
    """True when at least one rule is true."""


class NotRule(Strict):
    not_: Rule = Field(alias="not")
    """True when the rule is false."""


def _rule_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if not isinstance(value, dict):
        return None
    for key in ("in_segment", "not_in_segment", "field", "all", "any", "not"):
        if key in value:
            return key
    return None


Rule = Annotated[
    Annotated[InSegmentRule, Tag("in_segment")]
    | Annotated[NotInSegmentRule, Tag("not_in_segment")]
    | Annotated[FieldRule, Tag("field")]
    | Annotated[AllRule, Tag("all")]
    | Annotated[AnyRule, Tag("any")]
    | Annotated[NotRule, Tag("not")],
    Discriminator(
        _rule_tag,
        custom_error_type="invalid_rule",
        custom_error_message="a rule needs one of in_segment, not_in_segment, field, all, any, not",
    ),
]

# --- nodes -----------------------------------------------------------------------------------

NodeId = Annotated[str, Field(min_length=1, max_length=100, pattern=NODE_ID_PATTERN)]
Next = NodeId | None


class SegmentNode(Strict):
    id: NodeId
    type: Literal["segment"]
    operation: Literal["add", "remove"]
    segment: SegmentName
    """Segment name in the flow's store."""
    create_if_missing: bool = False
    """add only: create the segment at deploy time if the store does not have it."""
    next: Next
    """The node after this one; null ends the run (flow.completed)."""


class ConditionNode(Strict):
    id: NodeId
    type: Literal["condition"]
    if_: Rule = Field(alias="if")
    then: Next
    """Where to go when the rule is true; null ends the run."""
    else_: Next = Field(alias="else")
    """Where to go when the rule is false; null ends the run."""


class Branch(Strict):
    percent: int = Field(ge=0, le=100)
    next: Next


class SplitNode(Strict):
    id: NodeId
    type: Literal["split"]
    branches: list[Branch] = Field(min_length=2)
    """Percents sum to 100; a customer's branch is fixed per (customer, flow, node)."""


class WaitNode(Strict):
    id: NodeId
    type: Literal["wait"]
    duration: str | None = None
    """ISO-8601 duration (e.g. P3D) to wait before `next`."""
    until_event: str | None = None
    """Event type to wait for; `timeout` and `on_timeout` say what happens if it never comes."""
    timeout: str | None = None
    next: Next
    on_timeout: Next = None


class ActionNode(Strict):
    id: NodeId
    type: Literal["action"]
    action: str = Field(min_length=1)
    """e.g. free_gift, credits, discount, notify, or any name your systems handle."""
    params: dict[str, Any] = Field(default_factory=dict)
    next: Next


class ExitNode(Strict):
    id: NodeId
    type: Literal["exit"]


Node = Annotated[
    SegmentNode | ConditionNode | SplitNode | WaitNode | ActionNode | ExitNode,
    Discriminator("type"),
]

# --- flow ------------------------------------------------------------------------------------


class Trigger(Strict):
    event: str = Field(pattern=EVENT_TYPE_PATTERN)
    """The input event type that starts a run, e.g. order.processed."""
    where: Rule | None = None
    """Only events for which this rule holds start a run."""


class FlowHeader(Strict):
    """A flow without its nodes: validated on its own, so one bad node hides nothing else."""

    id: str = Field(pattern=FLOW_ID_PATTERN)
    store_id: str
    name: str = Field(min_length=1)
    trigger: Trigger
    reentry: Literal["once", "not_while_active", "always"] = "not_while_active"
    """once: at most once ever; not_while_active: not while a run is live; always: every trigger."""
    start: NodeId


class Flow(FlowHeader):
    nodes: list[Node] = Field(min_length=1)


def deployed_flow(definition: Any) -> Flow:
    """A stored version, read as it was deployed, whatever today's stricter rules would say of it
    (`segflow flows validate --deployed` lists what they would refuse)."""
    return Flow.model_validate(definition, context=AS_DEPLOYED)
