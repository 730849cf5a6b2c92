"""Operator tools: API tokens in a deployment's table, and the admin views of its API (queue, health)."""
