-- 0014: the tables that grow with every event are partitioned by time (SPEC §11), so what is
-- past its retention leaves by dropping a whole partition (db/maintenance.py), not by deleting
-- rows: no bloat, no VACUUM, nothing for a batch to wait on.
--
-- Each table is partitioned on a time set by the database when the row is written (now()),
-- never on the worker's clock, which tests move at will: a row always lands in a partition
-- around the present, which db/maintenance.py keeps created ahead of time. The existing rows are
-- not copied: the old table becomes the first partition, from the beginning of time to the
-- migration, and is dropped whole once that is past its retention. Attaching it checks its rows
-- once and builds one index on it (what `db migrate` costs per million rows: docs/operations.md).
--
-- Partitioned tables cannot have identity columns before PostgreSQL 17: ids come from plain
-- sequences that continue the old ones.

CREATE TABLE retention_partitions (
    parent  text NOT NULL,
    name    text PRIMARY KEY,
    lower   timestamptz,            -- NULL: from the beginning (a table's first partition, its rows before 0014)
    upper   timestamptz NOT NULL,
    CHECK (lower IS NULL OR lower < upper)
);
COMMENT ON TABLE retention_partitions IS
    'The time partitions db/maintenance.py created (and 0014''s first ones): what it may drop.';

-- ===== processed_events (the dedup window, SPEC §2) =====
-- processed_at is the start of the bucket the id was claimed in (claim_events): an id claimed
-- twice at once in one bucket collides on the key; across buckets, claim_events looks back.
ALTER TABLE processed_events RENAME TO processed_events_p0;
-- Its key gains processed_at: attaching builds that index, so the old one goes.
ALTER TABLE processed_events_p0 DROP CONSTRAINT processed_events_pkey;
DROP INDEX processed_events_age;
CREATE TABLE processed_events (
    store_id      text NOT NULL,
    event_id      text NOT NULL,
    processed_at  timestamptz NOT NULL,
    PRIMARY KEY (store_id, event_id, processed_at)
) PARTITION BY RANGE (processed_at);

-- ===== journeys (SPEC §9; kept SEGFLOW_JOURNEY_RETENTION) =====
-- `at` stays the worker's clock (when the step happened, as `customers explain` shows it);
-- written_at is the database's, for partitioning.
ALTER TABLE journeys RENAME TO journeys_p0;
CREATE SEQUENCE journeys_ids;
SELECT setval('journeys_ids', last_value, is_called) FROM journeys_id_seq;
ALTER TABLE journeys_p0 ALTER COLUMN id DROP IDENTITY;
ALTER TABLE journeys_p0 ADD COLUMN written_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER INDEX journeys_customer RENAME TO journeys_p0_customer;
DROP INDEX journeys_at;
CREATE TABLE journeys (
    id           bigint NOT NULL DEFAULT nextval('journeys_ids'),
    store_id     text NOT NULL,
    customer_id  bigint NOT NULL,
    at           timestamptz NOT NULL,
    entries      text NOT NULL,
    written_at   timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (written_at);
ALTER SEQUENCE journeys_ids OWNED BY journeys.id;
CREATE INDEX journeys_customer ON journeys (customer_id, id);

-- ===== outbox_batches (SPEC §3; published rows kept SEGFLOW_OUTBOX_RETENTION) =====
DROP VIEW outbox;
ALTER TABLE outbox_batches RENAME TO outbox_batches_p0;
ALTER TABLE outbox_batches_p0 DROP CONSTRAINT outbox_batches_pkey;  -- attaching builds (id, created_at)
ALTER INDEX outbox_batches_unpublished RENAME TO outbox_batches_p0_unpublished;
CREATE SEQUENCE outbox_batch_ids;
SELECT setval('outbox_batch_ids', last_value, is_called) FROM outbox_batches_id_seq;
ALTER TABLE outbox_batches_p0 ALTER COLUMN id DROP IDENTITY;
CREATE TABLE outbox_batches (
    id            bigint NOT NULL DEFAULT nextval('outbox_batch_ids'),
    store_id      text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    size          integer NOT NULL CONSTRAINT outbox_batches_size_check CHECK (size > 0),
    event_ids     text[] NOT NULL,
    event_types   text[] NOT NULL,
    keys          text[] NOT NULL,
    payloads      text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (id, created_at),
    CONSTRAINT outbox_batches_check CHECK (
        cardinality(event_ids) = size AND cardinality(event_types) = size
        AND cardinality(keys) = size AND cardinality(payloads) = size)
) PARTITION BY RANGE (created_at);
ALTER SEQUENCE outbox_batch_ids OWNED BY outbox_batches.id;
-- As before (0005): large arrays out of line and uncompressed.
ALTER TABLE outbox_batches ALTER COLUMN event_ids SET STORAGE EXTERNAL,
                           ALTER COLUMN event_types SET STORAGE EXTERNAL,
                           ALTER COLUMN keys SET STORAGE EXTERNAL,
                           ALTER COLUMN payloads SET STORAGE EXTERNAL;
CREATE INDEX outbox_batches_unpublished ON outbox_batches (id) WHERE published_at IS NULL;

CREATE VIEW outbox AS
SELECT b.id, e.position, b.store_id, e.event_id, e.event_type, e.key, e.payload::json AS payload,
       b.created_at, b.published_at
FROM outbox_batches b
CROSS JOIN LATERAL unnest(b.event_ids, b.event_types, b.keys, b.payloads)
    WITH ORDINALITY AS e (event_id, event_type, key, payload, position);

-- ===== the old tables become the first partitions =====
-- The old rows, up to now, stay where they are as partition p0 (dropped whole once now is past
-- its retention); a second partition takes new rows up to the next minute, after which
-- db/maintenance.py's partitions take over: every segflow process creates them, for the
-- retentions it is configured with, before it writes (segflow.database.ensure_partitions).
CREATE TEMPORARY TABLE first_partitions ON COMMIT DROP AS
SELECT now() AS migrated_at,
       date_bin('1 minute', now(), timestamptz '1970-01-01 00:00:00+00') + interval '1 minute' AS next_minute;

DO $$
DECLARE
    migrated_at timestamptz := (SELECT f.migrated_at FROM first_partitions f);
    next_minute timestamptz := (SELECT f.next_minute FROM first_partitions f);
    parent text;
BEGIN
    FOREACH parent IN ARRAY ARRAY['processed_events', 'journeys', 'outbox_batches'] LOOP
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                       parent, parent || '_p0', migrated_at);
        INSERT INTO retention_partitions (parent, name, lower, upper)
        VALUES (parent, parent || '_p0', NULL, migrated_at);
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                       parent || '_p1', parent);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, parent || '_p1', migrated_at, next_minute);
        INSERT INTO retention_partitions (parent, name, lower, upper)
        VALUES (parent, parent || '_p1', migrated_at, next_minute);
    END LOOP;
END
$$;
