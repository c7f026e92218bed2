"""Connectors shipped with the project that are not Stripe or a database."""
