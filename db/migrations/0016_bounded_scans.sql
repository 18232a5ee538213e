-- 0016: the worker's recurring statements read a bounded number of rows, however big the tables
-- grow (SPEC §5, "Never wedged").
--
-- The scheduler used to take due waits across stores in wake_at order, leaving out resting
-- stores (those whose wake failed) by a filter: every tick read every due wait of a resting
-- store before reaching anyone else's. It now finds the stores with waits by a skip scan
-- (one probe per store) and takes each store's due waits from its own range of this index.
CREATE INDEX live_runs_waiting ON live_runs (store_id, wake_at) WHERE status = 'waiting' AND wake_at IS NOT NULL;
DROP INDEX live_runs_due;

-- The Klaviyo sync claim used to filter every auto-synced segment by two times and sort what
-- was left; segments whose sync kept failing sat at the front and were read on every claim.
-- One time now says when a segment's daily sync may run next: a day after the last sync, or
-- when a claim or a failed sync's pause ends (NULL: at once), and an index serves it in order.
ALTER TABLE segments RENAME COLUMN sync_claimed_until TO next_sync_at;
UPDATE segments SET next_sync_at = greatest(next_sync_at, last_synced_at + interval '24 hours')
WHERE last_synced_at IS NOT NULL;
CREATE INDEX segments_next_sync ON segments (next_sync_at NULLS FIRST)
WHERE source = 'klaviyo' AND auto_sync AND external_id IS NOT NULL;
