"""Per-user quotas on the API (waiting jobs, uploads per hour) and the count of requests they refused."""
