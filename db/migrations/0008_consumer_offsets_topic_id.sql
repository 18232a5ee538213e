-- Offsets belong to one incarnation of a topic. A topic deleted and created again under the same
-- name numbers its records from 0 again, and offsets stored for the old one would skip them
-- (SPEC §5). The broker's topic id (KIP-516) is kept with each offset; NULL in rows from before
-- this migration and on brokers that report no ids, where only the offset's bounds are checked.
ALTER TABLE consumer_offsets ADD COLUMN topic_id uuid;
