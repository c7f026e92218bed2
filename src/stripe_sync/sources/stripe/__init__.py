"""The Stripe source: catalog, HTTP client, request budget, backfill, events and webhooks."""
