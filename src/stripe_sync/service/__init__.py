"""The service: engine HTTP API, service HTTP API, Temporal workflows, dashboard."""
