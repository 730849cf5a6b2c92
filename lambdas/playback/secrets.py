"""SecretReader over Secrets Manager: the play-token key and the CloudFront private key, read once per container."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.playback.ports import PlaybackUnavailable


class SecretsManagerReader:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._values: dict[str, str] = {}

    def read(self, name: str) -> str:
        if name not in self._values:
            try:
                self._values[name] = str(self._client.get_secret_value(SecretId=name)["SecretString"])
            except (ClientError, BotoCoreError) as error:
                raise PlaybackUnavailable(f"the secret {name} could not be read") from error
        return self._values[name]
