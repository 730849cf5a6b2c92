"""API credentials: bearer tokens stored hashed in the jobs table, and the authorizer's policy."""
