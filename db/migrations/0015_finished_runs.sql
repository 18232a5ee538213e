-- 0015: live runs and finished runs apart (SPEC §11: finished runs are kept SEGFLOW_RUN_RETENTION).
--
-- live_runs holds the runs that can still move (active, waiting): as many as customers are in
-- the middle of a flow, read on every batch. finished_runs is append-only and partitioned by the
-- time a run finished (db/maintenance.py drops whole partitions past the retention). `runs` is
-- a view of both, for everything that reads runs without caring which.
--
-- What a finished run still meant after it is gone is kept compactly:
-- - flow_entries: which flows each customer ever entered, for `reentry: once` (one row per
--   customer and flow, written when a run starts);
-- - flow_counts (0011): runs of a version that finished, by status (node_id '', edge = the
--   status), so `flows stats` does not forget them either.
--
-- As in 0014 the old rows are not copied: the old table becomes finished_runs' first partition
-- once its live rows have moved to live_runs.

CREATE TABLE live_runs (
    store_id      text NOT NULL,
    key           text NOT NULL,
    customer_id   bigint NOT NULL,
    flow_id       text NOT NULL,
    flow_version  integer NOT NULL,
    node_id       text,
    status        text NOT NULL CHECK (status IN ('active', 'waiting')),
    -- A waiting run wakes at wake_at (duration, or until_event timeout) or on waiting_for.
    wake_at       timestamptz,
    waiting_for   text,
    reason        text,
    entered_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (store_id, key)
);
-- A batch loads its customers' live runs.
CREATE INDEX live_runs_customer ON live_runs (store_id, customer_id);
-- The scheduler takes due waits in time order.
CREATE INDEX live_runs_due ON live_runs (wake_at, store_id, customer_id) WHERE status = 'waiting' AND wake_at IS NOT NULL;
-- flows list, stats and archive count or end a flow's live runs.
CREATE INDEX live_runs_flow ON live_runs (store_id, flow_id, flow_version);

INSERT INTO live_runs (store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at, waiting_for,
                       reason, entered_at, updated_at)
SELECT store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at, waiting_for, reason,
       entered_at, updated_at
FROM runs WHERE status IN ('active', 'waiting');

CREATE TABLE flow_entries (
    store_id     text NOT NULL,
    customer_id  bigint NOT NULL,
    flow_id      text NOT NULL,
    -- Customer ids are unique across stores: the store is checked as a filter, not kept in the key.
    PRIMARY KEY (customer_id, flow_id)
);
INSERT INTO flow_entries (store_id, customer_id, flow_id)
SELECT DISTINCT store_id, customer_id, flow_id FROM runs;

INSERT INTO flow_counts (store_id, flow_id, version, node_id, edge, count)
SELECT store_id, flow_id, flow_version, '', status, count(*) FROM runs
WHERE status NOT IN ('active', 'waiting')
GROUP BY store_id, flow_id, flow_version, status;

-- The old table keeps its finished runs and becomes the first partition.
DELETE FROM runs WHERE status IN ('active', 'waiting');
ALTER TABLE runs RENAME TO finished_runs_p0;
ALTER TABLE finished_runs_p0 DROP COLUMN id;
ALTER TABLE finished_runs_p0 DROP CONSTRAINT runs_store_key;
DROP INDEX runs_customer, runs_live, runs_due;
ALTER TABLE finished_runs_p0 ADD COLUMN finished_at timestamptz NOT NULL DEFAULT '-infinity';

CREATE TABLE finished_runs (
    store_id      text NOT NULL,
    key           text NOT NULL,
    customer_id   bigint NOT NULL,
    flow_id       text NOT NULL,
    flow_version  integer NOT NULL,
    node_id       text,
    status        text NOT NULL CHECK (status IN ('completed', 'exited', 'failed')),
    wake_at       timestamptz,   -- always null; kept so the old table fits as a partition
    waiting_for   text,          -- likewise
    reason        text,
    entered_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (finished_at);
-- A customer's runs (customers show, explain, a backfill's runs).
CREATE INDEX finished_runs_customer ON finished_runs (customer_id, flow_id);

-- Rows the old CHECK allowed that the new one does not cannot be there: the live ones moved.
ALTER TABLE finished_runs_p0 DROP CONSTRAINT runs_status_check;
ALTER TABLE finished_runs_p0 ADD CONSTRAINT finished_runs_status_check
    CHECK (status IN ('completed', 'exited', 'failed'));

DO $$
DECLARE
    migrated_at timestamptz := now();
    next_minute timestamptz := date_bin('1 minute', now(), timestamptz '1970-01-01 00:00:00+00') + interval '1 minute';
BEGIN
    EXECUTE format('ALTER TABLE finished_runs ATTACH PARTITION finished_runs_p0 FOR VALUES FROM (MINVALUE) TO (%L)',
                   migrated_at);
    INSERT INTO retention_partitions (parent, name, lower, upper)
    VALUES ('finished_runs', 'finished_runs_p0', NULL, migrated_at);
    CREATE TABLE finished_runs_p1 (LIKE finished_runs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    EXECUTE format('ALTER TABLE finished_runs ATTACH PARTITION finished_runs_p1 FOR VALUES FROM (%L) TO (%L)',
                   migrated_at, next_minute);
    INSERT INTO retention_partitions (parent, name, lower, upper)
    VALUES ('finished_runs', 'finished_runs_p1', migrated_at, next_minute);
END
$$;

CREATE VIEW runs AS
SELECT store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at, waiting_for, reason,
       entered_at, updated_at
FROM live_runs
UNION ALL
SELECT store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at, waiting_for, reason,
       entered_at, updated_at
FROM finished_runs;
