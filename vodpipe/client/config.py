"""Which API and token to use: flags, then the environment, then config.toml, then the local deployment."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from vodpipe.client.errors import ConfigError
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file

CONFIG_DIR_ENV = "VODPIPE_CONFIG_DIR"
API_URL_ENV = "VODPIPE_API_URL"
TOKEN_ENV = "VODPIPE_TOKEN"  # noqa: S105 (a variable name)
DEMO_TOKEN_FILE = "demo-token"  # noqa: S105 (a file name)


def config_dir() -> Path:
    """`$VODPIPE_CONFIG_DIR`, else `~/.config/vodpipe` (config.toml and the resume records live here)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override).expanduser() if override else Path.home() / ".config" / "vodpipe"


def read_config_file(path: Path) -> dict[str, str]:
    """`token` and `api_url` from config.toml; a missing file is an empty config, a broken one an error."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return {key: str(data[key]) for key in ("token", "api_url") if isinstance(data.get(key), str) and data[key]}


@dataclass(frozen=True)
class Target:
    """One API: its base URL, the bearer token, and the local deployment when that is what it is."""

    api_url: str
    token: str
    local: LocalDeployment | None = None


def local_deployment(runtime: LocalRuntime | None = None) -> LocalDeployment | None:
    """The deployment `make deploy-local` wrote for this checkout, if any."""
    path = outputs_file(runtime or LocalRuntime.from_env())
    try:
        return LocalDeployment.load(path)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}): run `make deploy-local` again") from exc


def resolve_target(api_url: str | None = None, token: str | None = None) -> Target:
    """The API and token to use, or a ConfigError saying how to provide the one that is missing."""
    file_path = config_dir() / "config.toml"
    from_file = read_config_file(file_path)
    local: LocalDeployment | None = None
    url = api_url or os.environ.get(API_URL_ENV) or from_file.get("api_url")
    if not url:
        local = local_deployment()
        url = local.api_url if local else None
    if not url:
        raise ConfigError(
            f'no API to talk to: pass --api-url, set {API_URL_ENV}, put api_url = "..." in {file_path}, '
            "or deploy locally with `make deploy-local`"
        )
    tok = token or os.environ.get(TOKEN_ENV) or from_file.get("token")
    if not tok and local is not None:
        # `make demo` keeps a token for the local deployment here.
        tok = _read_text(LocalRuntime.from_env().home / DEMO_TOKEN_FILE)
    if not tok:
        raise ConfigError(
            f'no API token: pass --token, set {TOKEN_ENV}, or put token = "..." in {file_path}'
            + (" (`make demo` creates one for the local deployment)" if local is not None else "")
        )
    return Target(api_url=url.rstrip("/"), token=tok, local=local)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
