"""What every room stands on: configuration, the database connection, the embedded services,
logging, and the worker's rule for what a failure is (an outage or a bad message)."""
