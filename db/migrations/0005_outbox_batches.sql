-- 0005: the outbox holds one row per writing transaction, not one per output event.
--
-- A worker batch queues ~5,000 output events. As rows, each was an insert into three indexes
-- with a foreign-key check, then an update (into the same indexes again) when the relay marked
-- it published: the largest share of the database's work per input event. As one row with
-- parallel arrays, the batch is one insert and one update, and the relay reads it in one go.
--
-- The (store_id, event_id) unique constraint goes with the old table. It never fired: a cause
-- is applied at most once (the worker's dedup claim and offset fencing, locked customers for
-- merchant operations), and output event ids stay deterministic, so consumers can still
-- de-duplicate (SPEC §3).
CREATE TABLE outbox_batches (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id      text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    size          integer NOT NULL CHECK (size > 0),
    event_ids     text[] NOT NULL,
    event_types   text[] NOT NULL,
    keys          text[] NOT NULL,
    -- The JSON values exactly as they are sent.
    payloads      text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    CHECK (cardinality(event_ids) = size AND cardinality(event_types) = size
           AND cardinality(keys) = size AND cardinality(payloads) = size)
);
-- Large arrays are stored out of line uncompressed: compressing a batch's payloads (pglz, the
-- only method every build has) cost more time than writing the bytes.
ALTER TABLE outbox_batches ALTER COLUMN event_ids SET STORAGE EXTERNAL,
                           ALTER COLUMN event_types SET STORAGE EXTERNAL,
                           ALTER COLUMN keys SET STORAGE EXTERNAL,
                           ALTER COLUMN payloads SET STORAGE EXTERNAL;
CREATE INDEX outbox_batches_unpublished ON outbox_batches (id) WHERE published_at IS NULL;

-- Rows queued before this version keep their order: one batch each, in id order.
INSERT INTO outbox_batches (store_id, size, event_ids, event_types, keys, payloads, created_at, published_at)
SELECT store_id, 1, ARRAY[event_id], ARRAY[event_type], ARRAY[key], ARRAY[payload::text], created_at, published_at
FROM outbox ORDER BY id;
DROP TABLE outbox;

-- One row per output event, for reading (tests, operators, the demo): `position` orders the
-- events of one batch.
CREATE VIEW outbox AS
SELECT b.id, e.position, b.store_id, e.event_id, e.event_type, e.key, e.payload::json AS payload,
       b.created_at, b.published_at
FROM outbox_batches b
CROSS JOIN LATERAL unnest(b.event_ids, b.event_types, b.keys, b.payloads)
    WITH ORDINALITY AS e (event_id, event_type, key, payload, position);
