"""Telling people a job ended: the owner's email (SES). Operators' notifications are the SNS topic (the CDK app)."""
