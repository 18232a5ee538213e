-- A customer's journey (SPEC §9, `customers explain`): every step a run took, what caused it
-- and what it did, and every segment change made outside flows. Append-only, written in the
-- transaction of the change, kept for at least 30 days (the worker prunes older rows).
CREATE TABLE journey_steps (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    store_id      text NOT NULL,
    customer_id   bigint NOT NULL,
    at            timestamptz NOT NULL,
    operation     text NOT NULL,   -- event, timer, backfill, archive, manual, csv, klaviyo_sync, delete
    event_id      text,            -- the input event, for operation event
    event_type    text,
    flow_id       text,            -- null for segment changes made outside flows
    flow_version  integer,
    path          text[] NOT NULL DEFAULT '{}',
    status        text,            -- the run's status after the step
    node_id       text,            -- where the run is after the step
    reason        text,
    effects       json NOT NULL    -- [{"type": "segment.member_added", "segment": ..., "node": ...}, ...]
);
-- One customer's steps in order (ids grow with every insert, in the order steps happened).
CREATE INDEX journey_steps_customer ON journey_steps (store_id, customer_id, id);
-- Pruning by age: rows arrive in time order, so a BRIN index is enough and costs little to keep.
CREATE INDEX journey_steps_at ON journey_steps USING brin (at);

-- Why an event that matched a flow's trigger let the customer in not: the last such refusal
-- per customer and flow (what the verdict of `customers explain --flow` needs, not every event).
CREATE TABLE trigger_refusals (
    store_id      text NOT NULL,
    customer_id   bigint NOT NULL,
    flow_id       text NOT NULL,
    flow_version  integer NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    at            timestamptz NOT NULL,
    reason        text NOT NULL,
    PRIMARY KEY (store_id, customer_id, flow_id)
);
