"""The message bus: one small interface, two implementations (local SQLite log, Kafka)."""
