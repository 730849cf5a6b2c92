"""Operational metrics: what a job's end and the queue measure (pure), written as CloudWatch EMF log lines."""
