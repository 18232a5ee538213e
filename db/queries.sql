-- All of segflow's SQL, as named blocks (see db/queries.py).
-- Parameters are named; every query on tenant data filters by store_id.

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
        %(emails)s::text[], %(external_ids)s::text[], %(first_names)s::text[],
        %(last_names)s::text[], %(phones)s::text[]
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

-- name: list_customers
-- A page of a store's customers, for the demo and operators.
SELECT email, external_id, first_name, last_name, phone, created_at
FROM customers WHERE store_id = %(store_id)s ORDER BY email LIMIT %(limit)s;

-- name: count_customers
-- How many customers a store has.
SELECT count(*) FROM customers WHERE store_id = %(store_id)s;
