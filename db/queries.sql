-- All of segflow's SQL, as named blocks (see db/queries.py).
-- Parameters are named; every query on tenant data filters by store_id.
-- Array parameters use %(name)b: psycopg sends them in binary, which skips escaping every
-- element in Python (that escaping was a third of a batch's time).

-- name: lock_migrations
-- Serialises concurrent `db migrate` runs until the transaction ends.
SELECT pg_advisory_xact_lock(%(key)s);

-- name: create_schema_migrations
-- The ledger of applied migration files.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
-- Which migration files this database already has.
SELECT version FROM schema_migrations ORDER BY version;

-- name: record_migration
-- Marks one migration file applied, in the transaction that applied it.
INSERT INTO schema_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: insert_store
-- Creates a tenant; an existing id is reported by the caller, not overwritten.
INSERT INTO stores (id, name, plan) VALUES (%(store_id)s, %(name)s, %(plan)s)
ON CONFLICT (id) DO NOTHING
RETURNING id, name, plan, created_at;

-- name: list_stores
-- Every tenant, for operators (`stores list`).
SELECT id, name, plan, created_at FROM stores ORDER BY id;

-- name: get_store
-- One tenant, to check it exists and read its plan.
SELECT id, name, plan, created_at FROM stores WHERE id = %(store_id)s;

-- name: upsert_customers
-- customers import: one statement for the whole file. Empty fields keep what the record had;
-- `xmax = 0` tells a fresh insert from an update, and unchanged rows are not touched at all.
WITH incoming AS (
    SELECT * FROM unnest(
        %(emails)b::text[], %(external_ids)b::text[], %(first_names)b::text[],
        %(last_names)b::text[], %(phones)b::text[]
    ) AS i (email, external_id, first_name, last_name, phone)
)
INSERT INTO customers AS c (store_id, email, external_id, first_name, last_name, phone)
SELECT %(store_id)s, email, external_id, first_name, last_name, phone FROM incoming
ON CONFLICT (store_id, email) DO UPDATE SET
    external_id = coalesce(excluded.external_id, c.external_id),
    first_name  = coalesce(excluded.first_name, c.first_name),
    last_name   = coalesce(excluded.last_name, c.last_name),
    phone       = coalesce(excluded.phone, c.phone),
    updated_at  = now()
WHERE (c.external_id, c.first_name, c.last_name, c.phone) IS DISTINCT FROM
      (coalesce(excluded.external_id, c.external_id), coalesce(excluded.first_name, c.first_name),
       coalesce(excluded.last_name, c.last_name), coalesce(excluded.phone, c.phone))
RETURNING (xmax = 0) AS inserted;

-- name: insert_segment
-- Creates a segment; the unique index on lower(name) reports a clash as no row.
INSERT INTO segments (store_id, name, source, auto_sync)
VALUES (%(store_id)s, %(name)s, %(source)s, %(auto_sync)s)
ON CONFLICT DO NOTHING
RETURNING id, name, source, created_at, auto_sync, last_synced_at;

-- name: get_segment
-- One segment by name, case-insensitively (SPEC §1).
SELECT id, name, source, created_at, auto_sync, last_synced_at,
       (SELECT count(*) FROM segment_members m WHERE m.store_id = s.store_id AND m.segment_id = s.id)
FROM segments s
WHERE s.store_id = %(store_id)s AND lower(s.name) = lower(%(name)s);

-- name: lock_segment_named
-- One segment by name, locked for the rest of the transaction: what an import decides (the
-- segment exists, or is to be created) holds until it commits; a delete committed meanwhile
-- makes this find nothing.
SELECT id, name, source, created_at, auto_sync, last_synced_at
FROM segments
WHERE store_id = %(store_id)s AND lower(name) = lower(%(name)s)
FOR UPDATE;

-- name: list_segments
-- `segments list`: every segment of a store with its member count.
SELECT s.id, s.name, s.source, s.created_at, s.auto_sync, s.last_synced_at, count(m.customer_id), s.sync_state
FROM segments s
LEFT JOIN segment_members m ON m.store_id = s.store_id AND m.segment_id = s.id
WHERE s.store_id = %(store_id)s
GROUP BY s.id
ORDER BY lower(s.name);

-- name: segment_members_page
-- `segments show`: members with their customer fields, newest first.
SELECT c.email, c.first_name, c.last_name, c.phone, m.added_at, m.added_by
FROM segment_members m
JOIN customers c ON c.store_id = m.store_id AND c.id = m.customer_id
WHERE m.store_id = %(store_id)s AND m.segment_id = %(segment_id)s
ORDER BY m.added_at DESC, c.email
LIMIT %(limit)s;

-- name: segment_member_emails_after
-- `flows backfill`: a page of a segment's members, in email order (the order customers are locked in).
SELECT c.email FROM segment_members m
JOIN customers c ON c.store_id = m.store_id AND c.id = m.customer_id
WHERE m.store_id = %(store_id)s AND m.segment_id = %(segment_id)s AND c.email > %(after)s
ORDER BY c.email
LIMIT %(limit)s;

-- name: resolve_customers
-- Maps normalised emails to the store's customers in one round trip; unknown emails drop out.
-- `= ANY` is read as index probes: a join with unnest() was planned as a hash of every customer
-- of the store (100,000 read per 1,000 emails imported: 38 ms, against 10 ms).
SELECT c.id, c.email
FROM customers c
WHERE c.store_id = %(store_id)s AND c.email = ANY(%(emails)b::text[]);

-- name: add_members
-- Adds customers to a segment; RETURNING lists only real additions (no duplicates, SPEC §1).
-- The lookups stand in for foreign keys, as in add_memberships.
INSERT INTO segment_members (store_id, segment_id, customer_id, added_at, added_by)
SELECT %(store_id)s,
       (SELECT s.id FROM segments s WHERE s.store_id = %(store_id)s AND s.id = %(segment_id)s FOR KEY SHARE),
       (SELECT c.id FROM customers c WHERE c.store_id = %(store_id)s AND c.id = u.customer_id),
       %(now)s, %(added_by)s
FROM unnest(%(customer_ids)b::bigint[]) AS u (customer_id)
ON CONFLICT (segment_id, customer_id) DO NOTHING
RETURNING customer_id;

-- name: remove_members
-- Removes customers from a segment; RETURNING lists only real removals.
DELETE FROM segment_members
WHERE store_id = %(store_id)s AND segment_id = %(segment_id)s AND customer_id = ANY(%(customer_ids)b::bigint[])
RETURNING customer_id;

-- name: remove_all_members
-- Empties a segment before it is deleted, listing who was removed (for their outbox events).
DELETE FROM segment_members m
USING customers c
WHERE m.store_id = %(store_id)s AND m.segment_id = %(segment_id)s
  AND c.store_id = m.store_id AND c.id = m.customer_id
RETURNING c.email, c.id;

-- name: delete_segment
-- Deletes the segment row itself (members were removed first).
DELETE FROM segments WHERE store_id = %(store_id)s AND id = %(segment_id)s;

-- name: flows_with_status
-- Latest definition of a store's flows in the given statuses (segment references are read in Python).
SELECT f.id, f.status, v.definition
FROM flows f
JOIN flow_versions v ON v.store_id = f.store_id AND v.flow_id = f.id AND v.version = f.latest_version
WHERE f.store_id = %(store_id)s AND f.status = ANY(%(statuses)b::text[])
ORDER BY f.id;

-- name: set_flow_status
-- pause / resume / archive, and pausing flows before a forced segment delete.
UPDATE flows SET status = %(status)s, updated_at = now()
WHERE store_id = %(store_id)s AND id = ANY(%(flow_ids)b::text[]);

-- name: insert_outbox
-- Queues a transaction's output events as one batch, in the transaction of the change that
-- caused them (SPEC §3).
INSERT INTO outbox_batches (store_id, size, event_ids, event_types, keys, payloads)
VALUES (%(store_id)s, %(size)s, %(event_ids)b::text[], %(event_types)b::text[], %(keys)b::text[], %(payloads)b::text[]);

-- name: lock_flow
-- Serialises deploys and status changes of one flow.
SELECT status, latest_version FROM flows WHERE store_id = %(store_id)s AND id = %(flow_id)s FOR UPDATE;

-- name: insert_flow
-- First deploy of a flow id in a store.
INSERT INTO flows (store_id, id, status, latest_version) VALUES (%(store_id)s, %(flow_id)s, 'active', 0);

-- name: latest_content_hash
-- An identical redeploy is a no-op: compare with the latest version's hash.
SELECT content_hash FROM flow_versions
WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s AND version = %(version)s;

-- name: insert_flow_version
-- Versions are immutable rows; a deploy adds one and points the flow at it.
WITH added AS (
    INSERT INTO flow_versions (store_id, flow_id, version, definition, content_hash)
    VALUES (%(store_id)s, %(flow_id)s, %(version)s, %(definition)s, %(content_hash)s)
    RETURNING version
)
UPDATE flows SET latest_version = (SELECT version FROM added), updated_at = now()
WHERE store_id = %(store_id)s AND id = %(flow_id)s;

-- name: list_flows
-- flows list: one row per flow (its latest version) with its live run count.
SELECT f.id, f.latest_version, f.status, v.definition -> 'trigger' ->> 'event',
       (SELECT count(*) FROM live_runs r WHERE r.store_id = f.store_id AND r.flow_id = f.id)
FROM flows f
JOIN flow_versions v ON v.store_id = f.store_id AND v.flow_id = f.id AND v.version = f.latest_version
WHERE f.store_id = %(store_id)s
ORDER BY f.id;

-- name: get_flow_version
-- flows show: one version (the latest when version is null).
SELECT f.id, v.version, f.status, v.definition, v.content_hash, v.created_at
FROM flows f
JOIN flow_versions v ON v.store_id = f.store_id AND v.flow_id = f.id
WHERE f.store_id = %(store_id)s AND f.id = %(flow_id)s AND v.version = coalesce(%(version)s, f.latest_version);

-- name: flow_versions
-- The console's version list: every deployed version of one flow, newest first.
SELECT version, content_hash, created_at FROM flow_versions
WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s ORDER BY version DESC;

-- name: stored_flow_versions
-- Every version a store has deployed, for `flows validate --deployed` and `db migrate`.
SELECT flow_id, version, definition FROM flow_versions
WHERE store_id = %(store_id)s ORDER BY flow_id, version;

-- name: lock_flow_run_customers
-- Archiving exits live runs; their customers are locked first, in the order the worker locks
-- them (by email), so the worker never advances a run the archive is ending.
SELECT c.id FROM customers c
WHERE c.store_id = %(store_id)s
  AND c.id IN (SELECT customer_id FROM live_runs WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s)
ORDER BY c.email
FOR UPDATE OF c;

-- name: exit_flow_runs
-- Archiving ends in-flight runs (SPEC §1): they move to finished_runs as exited, and come back
-- for their flow.exited events.
WITH ended AS (
    DELETE FROM live_runs r USING customers c
    WHERE r.store_id = %(store_id)s AND r.flow_id = %(flow_id)s AND c.store_id = r.store_id AND c.id = r.customer_id
    RETURNING r.store_id, r.key, r.customer_id, r.flow_id, r.flow_version, r.node_id, r.entered_at, c.email
), finished AS (
    INSERT INTO finished_runs (store_id, key, customer_id, flow_id, flow_version, node_id, status, reason,
                               entered_at, updated_at)
    SELECT store_id, key, customer_id, flow_id, flow_version, node_id, 'exited', 'flow archived', entered_at, %(now)s
    FROM ended
)
SELECT key, flow_version, node_id, email, entered_at, customer_id FROM ended;

-- ===== the worker's batch (consumers/events.py) =====

-- name: lock_customers_by_email
-- A batch first locks its customers (by email, the one lock order every writer uses), so two
-- workers, the scheduler and manual segment changes never interleave on a customer (SPEC §5).
SELECT id, email, external_id, first_name, last_name, phone FROM customers
WHERE store_id = %(store_id)s AND email = ANY(%(emails)b::text[])
ORDER BY email
FOR UPDATE;

-- name: lock_customers_by_id_skip_locked
-- The scheduler takes due customers nobody is working on, and leaves the others for later.
SELECT id, email, external_id, first_name, last_name, phone FROM customers
WHERE store_id = %(store_id)s AND id = ANY(%(ids)b::bigint[])
ORDER BY email
FOR UPDATE SKIP LOCKED;

-- name: insert_event_customers
-- Customers first seen in events; a concurrent insert of the same email wins and is re-read.
INSERT INTO customers (store_id, email, external_id, first_name, last_name, phone)
SELECT %(store_id)s, * FROM unnest(
    %(emails)b::text[], %(external_ids)b::text[], %(first_names)b::text[], %(last_names)b::text[], %(phones)b::text[]
) ORDER BY 1
ON CONFLICT (store_id, email) DO NOTHING
RETURNING id, email, external_id, first_name, last_name, phone;

-- name: update_event_customers
-- Fields an event brought that the record did not have yet, or had differently (SPEC §2).
UPDATE customers c SET external_id = u.external_id, first_name = u.first_name, last_name = u.last_name,
       phone = u.phone, updated_at = now()
FROM unnest(%(ids)b::bigint[], %(external_ids)b::text[], %(first_names)b::text[], %(last_names)b::text[], %(phones)b::text[])
     AS u (id, external_id, first_name, last_name, phone)
WHERE c.store_id = %(store_id)s AND c.id = u.id;

-- name: claim_events
-- Dedup (SPEC §2): an event id already processed for the store is not returned, so it is skipped.
-- An id is claimed in the current bucket of processed_events' partition grid (`width` wide,
-- from the epoch, by the database's clock). Two transactions claiming one id in one bucket
-- collide on the key: the second waits for the first and then skips it. Ids claimed in earlier
-- buckets are looked up, one index probe per partition before the bucket (so the dedup
-- partitions are wide: db/maintenance.py), and so are the rows from before migration 0014,
-- which lie anywhere in its first partition. At a bucket boundary a transaction of the bucket
-- before may still be open, its claim invisible, so for `grace` after one an id is claimed in
-- both buckets and is new only if neither had it.
WITH bucket AS (
    SELECT date_bin(%(width)s::interval, now(), timestamptz '1970-01-01 00:00:00+00') AS current
), buckets AS (
    SELECT current AS at FROM bucket
    UNION ALL
    SELECT current - %(width)s::interval FROM bucket WHERE now() - current < %(grace)s::interval
), claimed AS (
    INSERT INTO processed_events (store_id, event_id, processed_at)
    SELECT %(store_id)s, e.event_id, b.at
    FROM unnest(%(event_ids)b::text[]) AS e (event_id) CROSS JOIN buckets b
    WHERE NOT EXISTS (
        SELECT 1 FROM processed_events p
        WHERE p.store_id = %(store_id)s AND p.event_id = e.event_id
          -- A bound known when the statement starts, so only the partitions below it are probed.
          AND p.processed_at < greatest((SELECT min(at) FROM buckets), (
              SELECT max(upper) FROM retention_partitions WHERE parent = 'processed_events' AND lower IS NULL))
          AND p.processed_at NOT IN (SELECT at FROM buckets)
        -- One index probe per id: without the fence the planner hashed every id the store had.
        OFFSET 0)
    ORDER BY e.event_id, b.at
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT event_id FROM claimed GROUP BY event_id HAVING count(*) = (SELECT count(*) FROM buckets);

-- name: existing_stores
-- Events of unknown stores are dead-lettered.
SELECT id FROM stores WHERE id = ANY(%(store_ids)b::text[]);

-- name: flow_heads
-- Every flow of a store with its status and latest version (active ones take new entries).
SELECT id, status, latest_version FROM flows WHERE store_id = %(store_id)s;

-- name: flow_definitions
-- Definitions of the versions a batch needs that the worker has not cached yet.
SELECT v.flow_id, v.version, v.definition
FROM flow_versions v
JOIN unnest(%(flow_ids)b::text[], %(versions)b::int[]) AS w (flow_id, version)
  ON v.flow_id = w.flow_id AND v.version = w.version
WHERE v.store_id = %(store_id)s;

-- name: live_runs
-- The batch's customers' runs that can still move. One index probe per customer, fenced by
-- OFFSET 0 so the planner cannot turn it into a scan: the runs table grows fast, and with the
-- statistics lagging it chose scans that tested every run against the whole id list.
SELECT r.key, c.id, r.flow_id, r.flow_version, r.node_id, r.status, r.wake_at, r.waiting_for, r.reason,
       r.entered_at, r.updated_at
FROM unnest(%(customer_ids)b::bigint[]) AS c (id)
CROSS JOIN LATERAL (
    SELECT * FROM live_runs WHERE store_id = %(store_id)s AND customer_id = c.id
    OFFSET 0
) AS r;

-- name: entered_flows
-- For `reentry: once`: which of these flows each customer has ever entered, finished runs
-- pruned or not (flow_entries). One index probe per customer and flow, fenced by OFFSET 0: as a
-- join, the planner hashed the whole table for every group of a batch.
SELECT c.id, f.id
FROM unnest(%(customer_ids)b::bigint[]) AS c (id)
CROSS JOIN unnest(%(flow_ids)b::text[]) AS f (id)
CROSS JOIN LATERAL (
    SELECT 1 FROM flow_entries e
    WHERE e.customer_id = c.id AND e.flow_id = f.id AND e.store_id = %(store_id)s
    OFFSET 0
) AS entered;

-- name: record_flow_entries
-- The flows these customers entered in this batch (runs started), once per customer and flow.
INSERT INTO flow_entries (store_id, customer_id, flow_id)
SELECT %(store_id)s, u.customer_id, u.flow_id
FROM unnest(%(customer_ids)b::bigint[], %(flow_ids)b::text[]) AS u (customer_id, flow_id)
ORDER BY 2, 3
ON CONFLICT DO NOTHING;

-- name: customer_memberships
-- The batch's customers' segments, by name, for the in-memory membership view.
SELECT m.customer_id, s.name FROM segment_members m
JOIN segments s ON s.store_id = m.store_id AND s.id = m.segment_id
WHERE m.store_id = %(store_id)s AND m.customer_id = ANY(%(customer_ids)b::bigint[]);

-- name: segment_ids
-- Every segment of a store (names to suggest for a mistyped one).
SELECT id, name FROM segments WHERE store_id = %(store_id)s;

-- name: segments_named
-- The store's segments of these lower-cased names (those a batch's flows refer to): one index
-- probe each, however many segments the store has.
SELECT id, name FROM segments WHERE store_id = %(store_id)s AND lower(name) = ANY(%(names)s::text[]);

-- name: upsert_runs
-- A batch's live runs, new and moved, in one statement; the key makes a retried batch idempotent.
-- The two lookups stand in for foreign keys (migration 0007): a run naming a customer or flow
-- version the store does not have gets a null there, and NOT NULL fails the statement. Scalar
-- subqueries, so each row is one index probe whatever the planner thinks of the table sizes.
INSERT INTO live_runs AS r (store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at, waiting_for,
                            reason, entered_at, updated_at)
SELECT %(store_id)s, u.key,
       (SELECT c.id FROM customers c WHERE c.store_id = %(store_id)s AND c.id = u.customer_id),
       u.flow_id,
       (SELECT v.version FROM flow_versions v
        WHERE v.store_id = %(store_id)s AND v.flow_id = u.flow_id AND v.version = u.flow_version),
       u.node_id, u.status, u.wake_at, u.waiting_for, u.reason, u.entered_at, u.updated_at
FROM unnest(
    %(keys)b::text[], %(customer_ids)b::bigint[], %(flow_ids)b::text[], %(versions)b::int[], %(node_ids)b::text[],
    %(statuses)b::text[], %(wake_ats)b::timestamptz[], %(waiting_fors)b::text[], %(reasons)b::text[],
    %(entered_ats)b::timestamptz[], %(updated_ats)b::timestamptz[]
) AS u (key, customer_id, flow_id, flow_version, node_id, status, wake_at, waiting_for, reason, entered_at, updated_at)
ON CONFLICT (store_id, key) DO UPDATE SET
    node_id = excluded.node_id, status = excluded.status, wake_at = excluded.wake_at,
    waiting_for = excluded.waiting_for, reason = excluded.reason, updated_at = excluded.updated_at;

-- name: finish_runs
-- A batch's runs that ended: out of live_runs (those that were there), into finished_runs.
-- The lookups stand in for foreign keys as in upsert_runs.
WITH ended AS (
    DELETE FROM live_runs r USING unnest(%(live_keys)b::text[]) AS k (key)
    WHERE r.store_id = %(store_id)s AND r.key = k.key
)
INSERT INTO finished_runs (store_id, key, customer_id, flow_id, flow_version, node_id, status, reason,
                           entered_at, updated_at)
SELECT %(store_id)s, u.key,
       (SELECT c.id FROM customers c WHERE c.store_id = %(store_id)s AND c.id = u.customer_id),
       u.flow_id,
       (SELECT v.version FROM flow_versions v
        WHERE v.store_id = %(store_id)s AND v.flow_id = u.flow_id AND v.version = u.flow_version),
       u.node_id, u.status, u.reason, u.entered_at, u.updated_at
FROM unnest(
    %(keys)b::text[], %(customer_ids)b::bigint[], %(flow_ids)b::text[], %(versions)b::int[], %(node_ids)b::text[],
    %(statuses)b::text[], %(reasons)b::text[], %(entered_ats)b::timestamptz[], %(updated_ats)b::timestamptz[]
) AS u (key, customer_id, flow_id, flow_version, node_id, status, reason, entered_at, updated_at);

-- name: add_memberships
-- Flow Segment nodes' additions across segments in one statement.
-- The lookups stand in for foreign keys (migration 0007): a segment or customer the store does not
-- have gives a null, and NOT NULL fails the statement. FOR KEY SHARE, as a foreign key check
-- takes it, makes a concurrent `segments delete` wait for this transaction (and then remove
-- these members too), or makes this statement fail if the delete committed first.
INSERT INTO segment_members (store_id, segment_id, customer_id, added_at, added_by)
SELECT %(store_id)s,
       (SELECT s.id FROM segments s WHERE s.store_id = %(store_id)s AND s.id = u.segment_id FOR KEY SHARE),
       (SELECT c.id FROM customers c WHERE c.store_id = %(store_id)s AND c.id = u.customer_id),
       u.added_at, u.added_by
FROM unnest(
    %(segment_ids)b::bigint[], %(customer_ids)b::bigint[], %(added_ats)b::timestamptz[], %(added_bys)b::text[]
) AS u (segment_id, customer_id, added_at, added_by)
ON CONFLICT (segment_id, customer_id) DO NOTHING;

-- name: remove_memberships
-- Flow Segment nodes' removals across segments in one statement.
DELETE FROM segment_members m
USING unnest(%(segment_ids)b::bigint[], %(customer_ids)b::bigint[]) AS d (segment_id, customer_id)
WHERE m.store_id = %(store_id)s AND m.segment_id = d.segment_id AND m.customer_id = d.customer_id;

-- name: lock_consumer_offsets
-- Fencing: the batch holds its partitions' offset rows; records before next_offset were
-- applied by someone else (a previous owner) and are dropped, so nothing applies twice.
SELECT partition, next_offset FROM consumer_offsets
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition = ANY(%(partitions)b::int[])
FOR UPDATE;

-- name: save_consumer_offsets
-- Offsets commit with the batch's effects (SPEC §5); they never move backwards.
INSERT INTO consumer_offsets AS o (group_id, topic, partition, next_offset, updated_at)
SELECT %(group_id)s, %(topic)s, * , now() FROM unnest(%(partitions)b::int[], %(next_offsets)b::bigint[])
ON CONFLICT (group_id, topic, partition) DO UPDATE
SET next_offset = greatest(o.next_offset, excluded.next_offset), updated_at = now();

-- name: start_consumer_offsets
-- A partition the group never saw starts at its beginning, stored before anything is read from
-- it, so every batch can be checked against a stored offset. Another member's row wins.
INSERT INTO consumer_offsets (group_id, topic, partition, next_offset, topic_id, updated_at)
SELECT %(group_id)s, %(topic)s, *, %(topic_id)s, now() FROM unnest(%(partitions)b::int[], %(next_offsets)b::bigint[])
ON CONFLICT (group_id, topic, partition) DO NOTHING;

-- name: reset_consumer_offsets
-- The one way an offset moves backwards: it lay outside its partition, or belonged to an older
-- topic of the same name (SPEC §5), which is read again from its beginning; also how a row
-- learns the topic's id. Only where nobody moved the offset since it was read.
UPDATE consumer_offsets AS o SET next_offset = r.next_offset, topic_id = %(topic_id)s, updated_at = now()
FROM unnest(%(partitions)b::int[], %(stored)b::bigint[], %(next_offsets)b::bigint[]) AS r (partition, stored, next_offset)
WHERE o.group_id = %(group_id)s AND o.topic = %(topic)s AND o.partition = r.partition AND o.next_offset = r.stored;

-- name: consumer_offsets
-- Where each assigned partition resumes, and which incarnation of the topic that offset is in.
SELECT partition, next_offset, topic_id FROM consumer_offsets
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition = ANY(%(partitions)b::int[]);

-- ===== the scheduler =====

-- name: stores_with_due_runs
-- Across stores by design (the scheduler serves them all): the stores with a wait whose time has
-- come, the longest overdue first, but those resting (consumers.scheduler). A skip scan: one
-- index probe per store with waits, however many waits each has.
WITH RECURSIVE waiting (store_id) AS (
    (SELECT store_id FROM live_runs WHERE status = 'waiting' AND wake_at IS NOT NULL ORDER BY store_id LIMIT 1)
    UNION ALL
    SELECT (
        SELECT l.store_id FROM live_runs l
        WHERE l.status = 'waiting' AND l.wake_at IS NOT NULL AND l.store_id > w.store_id
        ORDER BY l.store_id LIMIT 1
    )
    FROM waiting w WHERE w.store_id IS NOT NULL
)
SELECT w.store_id FROM waiting w
CROSS JOIN LATERAL (
    SELECT l.wake_at FROM live_runs l
    WHERE l.store_id = w.store_id AND l.status = 'waiting' AND l.wake_at IS NOT NULL
    ORDER BY l.wake_at LIMIT 1
) AS oldest
WHERE w.store_id IS NOT NULL AND oldest.wake_at <= %(now)s AND w.store_id <> ALL(%(resting)b::text[])
ORDER BY oldest.wake_at;

-- name: due_runs
-- A store's waits whose time has come, oldest first; rows another scheduler holds are skipped
-- (SPEC §5).
SELECT customer_id, key FROM live_runs
WHERE store_id = %(store_id)s AND status = 'waiting' AND wake_at <= %(now)s
ORDER BY wake_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- ===== the outbox relay =====

-- name: unpublished_outbox
-- The relay's next slice: the oldest unpublished batches after `after` up to about `limit`
-- events (at least one batch), in id order (per customer, commit order: their writers hold
-- the customer).
SELECT b.id, b.event_ids, b.keys, b.payloads
FROM (
    SELECT id, sum(size) OVER (ORDER BY id) - size AS before
    FROM (
        SELECT id, size FROM outbox_batches WHERE published_at IS NULL AND id > %(after)s ORDER BY id LIMIT 1000
    ) AS oldest
) AS w
JOIN outbox_batches b ON b.id = w.id
WHERE w.before < %(limit)s
ORDER BY b.id;

-- name: mark_outbox_published
-- After the broker acknowledged the slice.
UPDATE outbox_batches SET published_at = %(now)s WHERE id = ANY(%(ids)b::bigint[]);

-- name: relay_positions
-- Where recovery starts reading the output topic.
SELECT partition, next_offset FROM relay_positions WHERE topic = %(topic)s;

-- name: save_relay_positions
-- Everything before these offsets is marked published. Written only by the relay holding the
-- relay lock, as read from the topic: after the topic restarted empty they are lower than before.
INSERT INTO relay_positions AS r (topic, partition, next_offset)
SELECT %(topic)s, * FROM unnest(%(partitions)b::int[], %(next_offsets)b::bigint[])
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset;

-- name: try_relay_lock
-- One relay at a time across workers: a session lock, released when its connection ends.
SELECT pg_try_advisory_lock(%(key)s);

-- name: unpublished_count
-- How much the relay still has to do (idle detection, the demo, metrics): events queued, and
-- the age in seconds of the oldest queued batch (0 when none).
SELECT
    (SELECT coalesce(sum(size), 0) FROM outbox_batches WHERE published_at IS NULL),
    coalesce(extract(epoch FROM now() - (
        SELECT created_at FROM outbox_batches WHERE published_at IS NULL ORDER BY id LIMIT 1
    )), 0)::float8;

-- ===== dead letters (segflow dlq) =====

-- name: claim_dlq_replays
-- The dead letters (partition, offset) of the topic not replayed before, now claimed as
-- replayed; the caller sends them before it commits.
INSERT INTO dlq_replays (dlq_topic, partition, "offset", replayed_at)
SELECT %(topic)s, l.partition, l.offset, %(now)s
FROM unnest(%(partitions)b::int[], %(offsets)b::bigint[]) AS l (partition, "offset")
ON CONFLICT DO NOTHING
RETURNING partition, "offset";

-- name: replayed_dlq
-- Which of these dead letters were replayed before (for a dry run's report).
SELECT r.partition, r."offset" FROM dlq_replays r
JOIN unnest(%(partitions)b::int[], %(offsets)b::bigint[]) AS l (partition, "offset")
    ON r.partition = l.partition AND r."offset" = l."offset"
WHERE r.dlq_topic = %(topic)s;

-- ===== reporting (segflow demo) =====

-- name: existing_run_keys
-- Which of these runs of these customers exist already (a backfill's runs are named by it, so a
-- second one finds them). By customer: finished runs are indexed by customer, not by key.
SELECT key FROM live_runs WHERE store_id = %(store_id)s AND key = ANY(%(keys)b::text[])
UNION ALL
SELECT key FROM finished_runs
WHERE customer_id = ANY(%(customer_ids)b::bigint[]) AND flow_id = %(flow_id)s AND store_id = %(store_id)s
  AND key = ANY(%(keys)b::text[]);

-- name: run_counts
-- How many runs of each flow ended up in each status.
SELECT flow_id, status, count(*) FROM runs WHERE store_id = %(store_id)s GROUP BY 1, 2 ORDER BY 1, 2;

-- name: customer_outbox
-- One customer's output events in the order they were queued: their journey.
SELECT payload FROM outbox WHERE store_id = %(store_id)s AND key = %(key)s ORDER BY id, position;

-- ===== integrations (Klaviyo) =====

-- name: set_credential
-- `stores set-klaviyo-key`: one key per store and provider; setting it again replaces it.
INSERT INTO store_credentials (store_id, provider, api_key) VALUES (%(store_id)s, %(provider)s, %(api_key)s)
ON CONFLICT (store_id, provider) DO UPDATE SET api_key = excluded.api_key, updated_at = now();

-- name: get_credential
-- The only query that reads a key; its caller wraps it in a SecretStr at once.
SELECT api_key FROM store_credentials WHERE store_id = %(store_id)s AND provider = %(provider)s;

-- name: insert_external_segment
-- A segment that mirrors an external list or segment; queued (its first sync to come), or not.
INSERT INTO segments (store_id, name, source, auto_sync, external_type, external_id, external_name, created_at,
                      sync_state, sync_queued_at)
VALUES (%(store_id)s, %(name)s, 'klaviyo', %(auto_sync)s, %(external_type)s, %(external_id)s, %(external_name)s,
        %(now)s, CASE WHEN %(queued)s THEN 'queued' END, CASE WHEN %(queued)s THEN %(now)s END)
ON CONFLICT DO NOTHING
RETURNING id, name, source, created_at, auto_sync, last_synced_at;

-- name: lock_external_segment
-- A sync locks its segment while it writes what it fetched, so two syncs' writes never interleave.
SELECT external_type, external_id FROM segments
WHERE store_id = %(store_id)s AND id = %(segment_id)s AND source = 'klaviyo'
FOR UPDATE;

-- name: member_ids
-- Who is in a segment now (for a sync's difference).
SELECT c.id, c.email FROM segment_members m
JOIN customers c ON c.store_id = m.store_id AND c.id = m.customer_id
WHERE m.store_id = %(store_id)s AND m.segment_id = %(segment_id)s;

-- name: mark_synced
-- A sync that changed nothing still counts as a sync; its claim, if it had one, is done, and a
-- request queued while it ran is answered by it too.
UPDATE segments SET last_synced_at = %(now)s, next_sync_at = %(next_sync_at)s,
                    sync_state = NULL, sync_error = NULL, sync_queued_at = NULL
WHERE store_id = %(store_id)s AND id = %(segment_id)s;

-- name: mark_sync_failed
-- A failed sync changes no membership; the segment says why, and its next daily sync waits
-- until `until`.
UPDATE segments SET next_sync_at = %(until)s, sync_state = 'failed', sync_error = %(error)s, sync_queued_at = NULL
WHERE store_id = %(store_id)s AND id = %(segment_id)s;

-- name: queue_sync
-- "Sync now": queued, unless it is queued or running already (that sync answers this request).
UPDATE segments SET sync_state = 'queued', sync_error = NULL, sync_queued_at = %(now)s
WHERE store_id = %(store_id)s AND id = %(segment_id)s AND source = 'klaviyo'
  AND (sync_state IS NULL OR sync_state = 'failed');

-- name: claim_queued_sync
-- The console's background syncs: the oldest queued segment of a store that has no sync
-- running, or one whose claim lapsed (its holder died), claimed until `until` and committed
-- before anything is fetched. One store's queue never holds more than one of the slots.
UPDATE segments SET sync_state = 'running', next_sync_at = %(until)s
WHERE id = (
    SELECT q.id FROM segments q
    WHERE q.sync_state IN ('queued', 'running')
      AND (q.sync_state = 'queued' OR q.next_sync_at <= %(now)s)
      AND NOT EXISTS (
          SELECT 1 FROM segments r
          WHERE r.store_id = q.store_id AND r.sync_state = 'running' AND r.next_sync_at > %(now)s
      )
    ORDER BY q.sync_queued_at NULLS FIRST
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING store_id, id, name;

-- name: sync_status
-- Where a segment's sync stands, and what it mirrors (the page and the API's 202 show it).
SELECT sync_state, sync_error, last_synced_at, external_type, external_id, external_name, auto_sync
FROM segments
WHERE store_id = %(store_id)s AND id = %(segment_id)s;

-- name: set_external
-- An import by name, once resolved: the id (and the name as Klaviyo spells it).
UPDATE segments SET external_id = %(external_id)s, external_name = %(name)s
WHERE store_id = %(store_id)s AND id = %(segment_id)s;

-- name: external_segment
-- What a Klaviyo segment mirrors, read before fetching (no lock: nothing is held across HTTP).
SELECT external_type, external_id FROM segments
WHERE store_id = %(store_id)s AND id = %(segment_id)s AND source = 'klaviyo';

-- name: set_auto_sync
-- `segments set NAME --auto-sync on|off`.
UPDATE segments SET auto_sync = %(auto_sync)s WHERE store_id = %(store_id)s AND id = %(segment_id)s;

-- name: claim_due_sync
-- The Klaviyo segment whose daily sync is most overdue, claimed until `until` (committed at once:
-- the sync fetches from Klaviyo with no transaction open): its next sync is due then, so other
-- workers skip it meanwhile. Read in next_sync_at order from its index: bounded.
UPDATE segments SET next_sync_at = %(until)s, sync_state = 'running'
WHERE id = (
    SELECT id FROM segments
    WHERE source = 'klaviyo' AND auto_sync AND external_id IS NOT NULL
      AND (next_sync_at IS NULL OR next_sync_at <= %(now)s)
    ORDER BY next_sync_at NULLS FIRST
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING store_id, id, name;

-- name: lock_member_customers
-- Manual, CSV and sync membership changes lock their customers like the worker does (by email),
-- so a worker batch never decides on a membership view that changes under it.
SELECT id FROM customers WHERE store_id = %(store_id)s AND id = ANY(%(ids)b::bigint[]) ORDER BY email FOR UPDATE;

-- ===== journeys (SPEC §9) =====

-- name: insert_journeys
-- A transaction's journey rows in one statement, as two arrays sent in binary (customer ids and
-- their entries' JSON text): nothing for the server to parse and little for the worker to encode.
INSERT INTO journeys (store_id, customer_id, at, entries)
SELECT %(store_id)s, r.customer_id, %(at)s, r.entries
FROM unnest(%(customer_ids)b::bigint[], %(entries)b::text[]) AS r (customer_id, entries);

-- name: journey_of
-- A customer's journey rows before `before` (an id), newest first, a page at a time.
SELECT id, at, entries FROM journeys
WHERE customer_id = %(customer_id)s AND store_id = %(store_id)s AND id < %(before)s
ORDER BY id DESC
LIMIT %(limit)s;

-- name: add_flow_counts
-- A batch's node visits and edges taken, summed per key by the worker (engine.batch.node_counts).
INSERT INTO flow_counts (store_id, flow_id, version, node_id, edge, count)
SELECT %(store_id)s, c.flow_id, c.version, c.node_id, c.edge, c.count
FROM unnest(%(flow_ids)b::text[], %(versions)b::int[], %(node_ids)b::text[], %(edges)b::text[], %(counts)b::bigint[])
    AS c (flow_id, version, node_id, edge, count);

-- name: roll_up_flow_counts
-- Across stores by design (maintenance): the oldest `chunk` rows up to id `upto` become one per
-- key (with new ids, so a later chunk may sum them again). A bounded statement, on the
-- maintenance connection; a second roll-up at once waits on the rows the first deletes and then
-- skips them.
WITH gone AS (
    DELETE FROM flow_counts WHERE id IN (
        SELECT id FROM flow_counts WHERE id <= %(upto)s ORDER BY id LIMIT %(chunk)s)
    RETURNING store_id, flow_id, version, node_id, edge, count
), summed AS (
    INSERT INTO flow_counts (store_id, flow_id, version, node_id, edge, count)
    SELECT store_id, flow_id, version, node_id, edge, sum(count) FROM gone
    GROUP BY store_id, flow_id, version, node_id, edge
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM summed);

-- name: last_flow_count
-- Where a roll-up stops: the rows written before it started.
SELECT coalesce(max(id), 0) FROM flow_counts;

-- name: flow_counts
-- `flows stats`: a version's node visits and edges taken.
SELECT node_id, edge, sum(count)::bigint FROM flow_counts
WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s AND version = %(version)s
GROUP BY node_id, edge;

-- name: flow_version_runs
-- The console's versions of a flow with their runs: live ones by status, finished ones as
-- flow_counts counted them when they finished (node '' holds a finished run's status).
SELECT flow_version, status, count(*)::bigint FROM live_runs
WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s
GROUP BY 1, 2
UNION ALL
SELECT version, edge, sum(count)::bigint FROM flow_counts
WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s AND node_id = ''
GROUP BY 1, 2;

-- name: flow_run_counts
-- `flows stats`: a version's live runs by status and the node each is at (finished ones are
-- counted in flow_counts as they finish).
SELECT status, node_id, count(*) FROM live_runs
WHERE store_id = %(store_id)s AND flow_id = %(flow_id)s AND flow_version = %(version)s
GROUP BY status, node_id;

-- ===== seeing inside: customers (SPEC §9) =====

-- name: find_customers
-- `customers list` and a segment's page: by email substring and segment membership, in email
-- order, a page at a time (after the last email of the page before).
SELECT c.email, c.external_id, c.first_name, c.last_name, c.phone FROM customers c
WHERE c.store_id = %(store_id)s
  AND (%(search)s::text IS NULL OR strpos(c.email, %(search)s) > 0)
  AND (%(after)s::text IS NULL OR c.email > %(after)s)
  AND (%(segment_id)s::bigint IS NULL OR EXISTS (
      SELECT 1 FROM segment_members m
      WHERE m.store_id = c.store_id AND m.segment_id = %(segment_id)s AND m.customer_id = c.id))
ORDER BY c.email
LIMIT %(limit)s;

-- name: customer_record
-- `customers show` and `explain`: one customer by normalised email.
SELECT id, email, external_id, first_name, last_name, phone, created_at
FROM customers WHERE store_id = %(store_id)s AND email = %(email)s;

-- name: customer_segments
-- A customer's memberships and who made them.
SELECT s.name, m.added_at, m.added_by
FROM segment_members m JOIN segments s ON s.store_id = m.store_id AND s.id = m.segment_id
WHERE m.store_id = %(store_id)s AND m.customer_id = %(customer_id)s
ORDER BY lower(s.name);

-- name: customer_runs
-- Every run of a customer, ended ones too, oldest first.
SELECT flow_id, flow_version, status, node_id, entered_at, updated_at, wake_at, waiting_for, reason
FROM runs WHERE store_id = %(store_id)s AND customer_id = %(customer_id)s
ORDER BY entered_at, key;

-- ===== console access (SPEC §10) =====

-- name: insert_store_token
-- `stores token STORE`: only the token's hash and its first characters are kept.
INSERT INTO store_tokens (store_id, prefix, token_hash) VALUES (%(store_id)s, %(prefix)s, %(token_hash)s)
RETURNING id, created_at;

-- name: token_store
-- The store a live token belongs to (tokens are unique across stores: they are random).
SELECT id, store_id FROM store_tokens WHERE token_hash = %(token_hash)s AND revoked_at IS NULL;

-- name: revoke_store_tokens
-- `stores token STORE --revoke PREFIX`: that store's live tokens starting with the prefix.
UPDATE store_tokens SET revoked_at = now()
WHERE store_id = %(store_id)s AND revoked_at IS NULL AND starts_with(prefix, %(prefix)s)
RETURNING id, prefix;

-- name: end_token_sessions
-- Revoking a token signs out every browser that signed in with it.
DELETE FROM console_sessions WHERE store_id = %(store_id)s AND token_id = ANY(%(token_ids)s::bigint[]);

-- name: insert_console_session
-- A sign-in: the cookie's hash, the store its token gives, the session's form (CSRF) token.
INSERT INTO console_sessions (id_hash, token_id, store_id, csrf_token, expires_at)
VALUES (%(id_hash)s, %(token_id)s, %(store_id)s, %(csrf_token)s, now() + %(lifetime)s::interval);

-- name: console_session
-- A live session of a live token, and the notice left for its next page.
SELECT s.store_id, s.csrf_token, s.notice FROM console_sessions s
JOIN store_tokens t ON t.id = s.token_id AND t.store_id = s.store_id AND t.revoked_at IS NULL
WHERE s.id_hash = %(id_hash)s AND s.expires_at > now();

-- name: delete_console_session
-- Sign out.
DELETE FROM console_sessions WHERE id_hash = %(id_hash)s;

-- name: prune_console_sessions
-- Expired sessions, at each sign-in; across stores by design (maintenance).
DELETE FROM console_sessions WHERE expires_at <= now();

-- name: set_console_notice
-- What the page after a form's redirect shows (the result of the form), once.
UPDATE console_sessions SET notice = %(notice)s WHERE id_hash = %(id_hash)s;

-- ===== storage and maintenance (SPEC §11) =====

-- name: relation_sizes
-- `db size`: bytes on disk of each named table with its indexes and TOAST, partitions included
-- (a partitioned table's own size is 0), and of the whole database. Not tenant data.
-- (pg_partition_tree lists nothing for a table that is not partitioned, hence the union.)
SELECT t.name, coalesce(sum(pg_total_relation_size(r.relid)), 0)::bigint
FROM unnest(%(tables)s::text[]) AS t (name)
LEFT JOIN LATERAL (
    SELECT to_regclass(t.name) AS relid UNION SELECT relid FROM pg_partition_tree(to_regclass(t.name))
) AS r ON r.relid IS NOT NULL
GROUP BY t.name
UNION ALL
SELECT '', pg_database_size(current_database());

-- name: retention_partitions
-- The time partitions maintenance made, per table, oldest first.
SELECT parent, name, lower, upper FROM retention_partitions ORDER BY parent, upper;

-- name: lock_partitions
-- One process at a time creates partitions (they must not overlap): held to the end of the
-- transaction that creates them.
SELECT pg_advisory_xact_lock(%(key)s);

-- name: record_partition
-- A partition was created and attached, in this transaction.
INSERT INTO retention_partitions (parent, name, lower, upper) VALUES (%(parent)s, %(name)s, %(lower)s, %(upper)s);

-- name: forget_partition
-- A partition was dropped, in this transaction.
DELETE FROM retention_partitions WHERE name = %(name)s;

-- name: partition_state
-- Whether a partition is attached, being detached (an interrupted DETACH CONCURRENTLY), or
-- detached (a table of its own): 'attached', 'pending', 'detached', or NULL when it is gone.
SELECT CASE WHEN to_regclass(%(name)s) IS NULL THEN NULL
            WHEN i.inhdetachpending THEN 'pending'
            WHEN i.inhrelid IS NOT NULL THEN 'attached'
            ELSE 'detached' END
FROM (SELECT 1) AS one
LEFT JOIN pg_inherits i ON i.inhrelid = to_regclass(%(name)s);

-- name: try_maintenance_lock
-- One pruner at a time across workers and `db prune`: a session lock, released when done.
SELECT pg_try_advisory_lock(%(key)s);

-- name: maintenance_unlock
-- The pruner is done.
SELECT pg_advisory_unlock(%(key)s);

-- name: database_now
-- The database's clock, which the growing tables are partitioned by.
SELECT now();

-- The partition statements below are templates: {table} and {partition} are identifiers,
-- {lower} and {upper} literals, filled in by db/maintenance.py (DDL takes no parameters).

-- name: create_partition
-- A new partition's table, shaped like its parent's, before it is attached.
CREATE TABLE {partition} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE);

-- name: attach_partition
-- SHARE UPDATE EXCLUSIVE on the parent: inserts, updates and reads go on meanwhile.
ALTER TABLE {table} ATTACH PARTITION {partition} FOR VALUES FROM ({lower}) TO ({upper});

-- name: detach_partition
-- CONCURRENTLY: waits for the transactions using the table instead of blocking them.
ALTER TABLE {table} DETACH PARTITION {partition} CONCURRENTLY;

-- name: finish_detaching_partition
-- A DETACH ... CONCURRENTLY that was interrupted, completed.
ALTER TABLE {table} DETACH PARTITION {partition} FINALIZE;

-- name: partition_rows
-- How many rows a detached partition takes with it (db prune's report).
SELECT count(*) FROM {partition};

-- name: partition_unpublished
-- An outbox partition keeps any row the relay has not published yet.
SELECT EXISTS (SELECT 1 FROM {partition} WHERE published_at IS NULL);

-- name: drop_partition
-- A detached partition: a table of its own now, dropped whole.
DROP TABLE {partition};
