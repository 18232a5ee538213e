-- 0002: what the worker needs beyond 0001.

-- A run is named by the event that started it (engine.ids.run_key), so a batch retried after a
-- crash finds, rather than forks, the runs it created. No run rows exist before this version.
ALTER TABLE runs ADD COLUMN key text NOT NULL;
ALTER TABLE runs ADD CONSTRAINT runs_store_key UNIQUE (store_id, key);
-- The scheduler finds due customers across stores, then locks them.
DROP INDEX runs_due;
CREATE INDEX runs_due ON runs (wake_at, store_id, customer_id) WHERE status = 'waiting' AND wake_at IS NOT NULL;

-- The outbox relay's progress on the output topic: everything before next_offset on a partition
-- is accounted for in outbox.published_at. After a crash the relay reads from here to the end
-- of the partition to learn which rows it had sent but not yet marked (SPEC §3: none twice).
CREATE TABLE relay_positions (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL CHECK (next_offset >= 0),
    PRIMARY KEY (topic, partition)
);
