"""The Postgres destination."""
