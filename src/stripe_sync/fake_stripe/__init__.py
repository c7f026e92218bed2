"""A Stripe-compatible API server for tests, demos and benchmarks."""
