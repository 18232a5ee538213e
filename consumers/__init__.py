"""The worker's I/O edges: the Kafka consumer loop, outbox relay, scheduler and dead letters."""
