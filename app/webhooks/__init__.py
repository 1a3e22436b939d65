"""Webhooks: a company's endpoints told of events, through a durable outbox (CONTRACT §11)."""
