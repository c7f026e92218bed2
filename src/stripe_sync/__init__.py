"""stripe-sync-engine: copy a Stripe account into a database you own and keep it current."""

__version__ = "0.1.0"
