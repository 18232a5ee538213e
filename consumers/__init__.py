"""The worker's edges to Kafka and PostgreSQL, each a module: the input topic read from the stored
offsets (input), applying a batch (events), dead letters (dlq), the outbox relay (relay), waking
due waits (scheduler) and the Kafka clients with their settings (kafka). The loop that runs
them is segflow/worker/.
"""
