-- `segflow dlq replay` (SPEC §9): which dead letters were sent back to the input topic, so a
-- dead letter replayed twice is sent once. Recorded in the transaction that commits only after
-- the broker acknowledged the send. The dead-letter topic holds every store's letters; so
-- does this.
CREATE TABLE dlq_replays (
    dlq_topic    text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    replayed_at  timestamptz NOT NULL,
    PRIMARY KEY (dlq_topic, partition, "offset")
);
