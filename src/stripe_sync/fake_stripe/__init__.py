"""A Stripe-compatible API server for tests, demos and benchmarks (see ``docs/fake-stripe.md``)."""

from stripe_sync.fake_stripe.config import Burst429, FakeStripeConfig, ListSize, SameSecond
from stripe_sync.fake_stripe.server import FakeStripe, serve

__all__ = ["Burst429", "FakeStripe", "FakeStripeConfig", "ListSize", "SameSecond", "serve"]
