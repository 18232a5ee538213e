-- 0003: outbox payloads as json, not jsonb. The relay sends the text as written; jsonb made
-- every insert parse it into binary and every relay read print it back (a third of the
-- relay's database time). `->` and `->>` work on json too.
ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json;
