"""The `stripe-sync` command."""
