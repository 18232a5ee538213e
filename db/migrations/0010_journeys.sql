-- Customers' journeys (SPEC §9, `customers explain`): every step a run took, what caused it and
-- what it did; every event that matched a flow's trigger but let the customer in not, and why
-- (status 'refused'); and every segment change made outside flows. One row per customer per
-- writing transaction, its entries in the order they happened (a batch touches a customer about
-- twice: half the rows and index entries of one row per step). Append-only, kept at least 30
-- days (the worker prunes older rows).
CREATE TABLE journeys (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    store_id     text NOT NULL,
    customer_id  bigint NOT NULL,
    at           timestamptz NOT NULL,
    entries      text NOT NULL    -- a JSON array of entries, each itself an array (db/journey.py FIELDS);
                                  -- text, not jsonb: only `customers explain` reads it, and parsing it
                                  -- on every write was most of the journey's cost to the database
);
-- A customer's rows in order (ids grow with every insert). Customer ids are unique across
-- stores: the store is checked as a filter, not kept in the index.
CREATE INDEX journeys_customer ON journeys (customer_id, id);
-- Pruning by age: rows arrive in time order, so a BRIN index is enough and costs little to keep.
CREATE INDEX journeys_at ON journeys USING brin (at);
