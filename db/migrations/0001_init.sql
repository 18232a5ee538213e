-- 0001: the whole first schema.
-- Tenancy: every tenant table carries store_id, and every foreign key between tenant tables
-- includes it, so a row of one store can never point at a row of another.

CREATE TABLE stores (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    plan        text NOT NULL CHECK (plan IN ('standard', 'pro', 'custom')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id     text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    -- SPEC §1: identified by email, case-insensitive and trimmed; stored normalised.
    email        text NOT NULL CHECK (email = lower(btrim(email)) AND email <> ''),
    external_id  text,
    first_name   text,
    last_name    text,
    phone        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, email),
    UNIQUE (store_id, id)
);

CREATE TABLE segments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id        text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name = btrim(name) AND length(name) BETWEEN 1 AND 100),
    source          text NOT NULL CHECK (source IN ('manual', 'flow', 'csv', 'klaviyo')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Klaviyo-backed segments (SPEC §6): what they mirror and how they sync.
    external_type   text CHECK (external_type IN ('list', 'segment')),
    external_id     text,
    auto_sync       boolean NOT NULL DEFAULT false,
    last_synced_at  timestamptz,
    UNIQUE (store_id, id)
);
-- SPEC §1: names are unique per store, case-insensitively.
CREATE UNIQUE INDEX segments_store_name_key ON segments (store_id, lower(name));

CREATE TABLE segment_members (
    store_id     text NOT NULL,
    segment_id   bigint NOT NULL,
    customer_id  bigint NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT now(),
    added_by     text NOT NULL,
    PRIMARY KEY (segment_id, customer_id),
    FOREIGN KEY (store_id, segment_id) REFERENCES segments (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, customer_id) REFERENCES customers (store_id, id) ON DELETE CASCADE
);
-- The engine loads a batch's customers' memberships by customer.
CREATE INDEX segment_members_customer ON segment_members (store_id, customer_id);

CREATE TABLE flows (
    store_id        text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    id              text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    latest_version  integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

-- Deployed versions are immutable (SPEC §1); a run stays on the version it entered.
CREATE TABLE flow_versions (
    store_id      text NOT NULL,
    flow_id       text NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    definition    jsonb NOT NULL,
    content_hash  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, flow_id, version),
    FOREIGN KEY (store_id, flow_id) REFERENCES flows (store_id, id) ON DELETE CASCADE
);

CREATE TABLE runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id      text NOT NULL,
    customer_id   bigint NOT NULL,
    flow_id       text NOT NULL,
    flow_version  integer NOT NULL,
    node_id       text,
    status        text NOT NULL CHECK (status IN ('active', 'waiting', 'completed', 'exited', 'failed')),
    -- A waiting run wakes at wake_at (duration, or until_event timeout) or on waiting_for.
    wake_at       timestamptz,
    waiting_for   text,
    reason        text,
    entered_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    FOREIGN KEY (store_id, customer_id) REFERENCES customers (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, flow_id, flow_version) REFERENCES flow_versions (store_id, flow_id, version)
);
-- A batch loads its customers' live runs; re-entry rules ask about any past run.
CREATE INDEX runs_customer ON runs (store_id, customer_id, flow_id);
CREATE INDEX runs_live ON runs (store_id, customer_id) WHERE status IN ('active', 'waiting');
-- The scheduler takes due waits in time order.
CREATE INDEX runs_due ON runs (wake_at) WHERE status = 'waiting' AND wake_at IS NOT NULL;
-- flows list counts active runs per flow.
CREATE INDEX runs_flow_live ON runs (store_id, flow_id) WHERE status IN ('active', 'waiting');

-- SPEC §2: an event id seen again for the store is skipped (window of at least 7 days).
CREATE TABLE processed_events (
    store_id      text NOT NULL,
    event_id      text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

-- SPEC §5: offsets live here, written in the transaction that applied the events.
-- Not tenant data: one partition carries many stores.
CREATE TABLE consumer_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- SPEC §3: transactional outbox, published in id order by the relay.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id      text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    key           text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    -- Deterministic ids: the same cause can never be queued twice.
    UNIQUE (store_id, event_id)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
