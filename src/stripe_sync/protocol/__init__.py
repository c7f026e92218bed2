"""The sync protocol: messages, NDJSON codec, SyncState coercion and range maths."""
