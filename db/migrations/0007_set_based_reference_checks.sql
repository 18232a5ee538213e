-- 0007: the hot tables' references are checked by the statements that write them, not by
-- foreign keys.
-- A foreign key checks each inserted row with its own query. The worker writes a run and often
-- a membership per input event, and those four checks were about a third of PostgreSQL's time
-- in the benchmark (10,844 events/s with them, ~12,800 without). The writing statements now
-- look the referenced row up themselves, one index probe per row inside the statement
-- (queries.sql: upsert_runs, add_memberships, add_members), and a row whose customer, segment
-- or flow version the store does not have gets a null, which NOT NULL turns into an error for
-- the whole statement, as the foreign key did.
-- What the foreign keys also did, and why it is not needed:
-- - ON DELETE CASCADE from customers: segflow never deletes a customer.
-- - ON DELETE CASCADE from segments: `segments delete` removes the members itself first, in the
--   same transaction, and the membership statements take the segment row FOR KEY SHARE as a
--   foreign key check did, so a concurrent delete either waits for them or makes them fail.
-- - flow versions are never deleted.
ALTER TABLE runs DROP CONSTRAINT runs_store_id_customer_id_fkey;
ALTER TABLE runs DROP CONSTRAINT runs_store_id_flow_id_flow_version_fkey;
ALTER TABLE segment_members DROP CONSTRAINT segment_members_store_id_segment_id_fkey;
ALTER TABLE segment_members DROP CONSTRAINT segment_members_store_id_customer_id_fkey;
