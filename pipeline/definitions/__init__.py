"""Group definitions on Kafka: their diff, their topic, and the watcher every worker runs."""
