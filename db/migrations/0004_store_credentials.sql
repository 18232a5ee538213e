-- 0004: per-store API keys for integrations (SPEC §6: the Klaviyo key is per store).
-- A table of its own, read by one query, so no store listing or report can ever carry a key.
CREATE TABLE store_credentials (
    store_id    text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    provider    text NOT NULL CHECK (provider IN ('klaviyo')),
    api_key     text NOT NULL CHECK (api_key <> ''),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, provider)
);
