"""Webhooks: endpoints, signed deliveries with retries, replay."""
