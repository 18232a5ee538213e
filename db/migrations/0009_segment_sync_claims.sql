-- A worker claims a due Klaviyo sync by setting this, and commits, before it fetches from
-- Klaviyo: no transaction or row lock is held across HTTP calls (which can last minutes under
-- rate limiting), and other workers skip the segment until the claim lapses. A sync that
-- fails keeps its claim to its end, so no worker retries it in a loop.
ALTER TABLE segments ADD COLUMN sync_claimed_until timestamptz;
