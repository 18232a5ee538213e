-- 0006: one partial index over live runs, not two.
-- runs_flow_live (store_id, flow_id) served only `flows list` counts and archiving, both rare.
-- The worker looks up live runs by customer many times a second, and with two partial indexes
-- over the same rows the planner, on statistics that lag a fast-growing table, picked this one
-- and tested every live run of the store against each customer (hundreds of ms per batch).
-- Those rare queries now use runs_live or runs_customer.
DROP INDEX runs_flow_live;
