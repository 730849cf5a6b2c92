"""Sending an Email through Amazon SES (SendEmail, text only)."""

from __future__ import annotations

from typing import Any

from lambdas.notify.email import Email


class SesMailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client, self._sender = client, sender

    def send(self, email: Email) -> str:
        """The SES message id."""
        answer = self._client.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [email.to]},
            Message={
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}},
            },
        )
        return str(answer["MessageId"])
