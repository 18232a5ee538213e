-- `flows stats` and `flows graph --stats` (SPEC §9): how often each node of a deployed version
-- was visited (edge '') and each of its edges taken (edge = the field: next, then, else,
-- on_timeout, branches[N].next). Runs by status and runs waiting at a node come from `runs`.
-- Every batch appends its own counts, so concurrent workers never wait on each other's rows;
-- the worker rolls them up into one row per key now and then, and a reader sums.
CREATE TABLE flow_counts (
    id        bigint GENERATED ALWAYS AS IDENTITY,
    store_id  text NOT NULL,
    flow_id   text NOT NULL,
    version   integer NOT NULL,
    node_id   text NOT NULL,
    edge      text NOT NULL,
    count     bigint NOT NULL
);
CREATE INDEX flow_counts_flow ON flow_counts (store_id, flow_id, version);
