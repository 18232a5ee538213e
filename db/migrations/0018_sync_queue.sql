-- 0018: the console never waits on Klaviyo (SPEC §10). "Sync now" and an import from Klaviyo
-- queue the segment and answer at once; the console's background syncs take queued segments,
-- a bounded number at a time and one per store, and the worker's daily sync marks its own. A
-- segment shows where it stands: queued, running (next_sync_at is then the claim's end: a
-- claim whose holder died lapses, and the segment is taken again), failed with why, or, with
-- no state, synced at last_synced_at.
ALTER TABLE segments
    ADD COLUMN sync_state text CHECK (sync_state IN ('queued', 'running', 'failed')),
    ADD COLUMN sync_error text,
    ADD COLUMN sync_queued_at timestamptz,
    -- The Klaviyo list's or segment's own name, for the page that says what the segment mirrors;
    -- an import by name keeps the name here until its id is resolved.
    ADD COLUMN external_name text;

CREATE INDEX segments_sync_queue ON segments (sync_queued_at) WHERE sync_state IN ('queued', 'running');
