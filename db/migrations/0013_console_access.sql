-- The web console and the HTTP API (SPEC §10): store access tokens and console sessions.
-- A token is kept only as its SHA-256 (it is 256 random bits, so a fast hash is enough) and
-- its first characters, which `stores token --revoke` and listings name it by.
CREATE TABLE store_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id    text NOT NULL REFERENCES stores (id),
    prefix      text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX store_tokens_store ON store_tokens (store_id, prefix);

-- A signed-in browser: the cookie holds a random id, kept here as its SHA-256 with the form
-- token (CSRF) of the session, and the result of its last form, which the page it redirects
-- to shows once. Revoking the token ends its sessions.
CREATE TABLE console_sessions (
    id_hash     bytea PRIMARY KEY,
    token_id    bigint NOT NULL REFERENCES store_tokens (id) ON DELETE CASCADE,
    store_id    text NOT NULL,
    csrf_token  text NOT NULL,
    notice      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
