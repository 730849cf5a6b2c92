"""Presets and downloads from the command line's side: list the presets, list a job's downloads, save one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from vodpipe.client.api import ApiClient, Json
from vodpipe.client.errors import TransportError

CHUNK_BYTES = 1 << 20
_EXTENDED = re.compile(r"filename\*\s*=\s*UTF-8''([^;]+)", re.IGNORECASE)
_QUOTED = re.compile(r'filename\s*=\s*"([^"]*)"', re.IGNORECASE)


def list_presets(api: ApiClient) -> list[Json]:
    """GET /presets."""
    presets: list[Json] = api.list_presets().get("presets", [])
    return presets


def list_downloads(api: ApiClient, job_id: str) -> list[Json]:
    """GET /jobs/{id}/downloads: each download's name, saved file name and size."""
    downloads: list[Json] = api.list_downloads(job_id).get("downloads", [])
    return downloads


def file_name_from_disposition(header: str | None) -> str | None:
    """The file name a Content-Disposition header gives (RFC 5987's filename* first), without any directory."""
    if not header:
        return None
    found = _EXTENDED.search(header)
    name = unquote(found.group(1).strip()) if found else None
    if name is None and (quoted := _QUOTED.search(header)):
        name = quoted.group(1)
    if not name:
        return None
    name = Path(name.replace("\\", "/")).name  # never a path: a name chosen by the server stays in the folder
    return name if name not in ("", ".", "..") else None


def save_download(
    api: ApiClient,
    job_id: str,
    name: str,
    out: Path | None = None,
    *,
    http: httpx.Client | None = None,
) -> Path:
    """Ask for a download's link and save the file: to `out` (a file, or a folder to put it in), else in the
    current folder under the name the server's Content-Disposition gives it."""
    link = api.get_download(job_id, name)
    client = http or httpx.Client(timeout=httpx.Timeout(30.0, read=300.0), follow_redirects=True)
    try:
        with client.stream("GET", str(link["url"])) as response:
            if response.status_code != httpx.codes.OK:
                response.read()
                raise TransportError(f"GET {name} answered {response.status_code}: {response.text[:200]}")
            saved = file_name_from_disposition(response.headers.get("content-disposition")) or str(link["file_name"])
            target = _target(out, saved)
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as sink:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    sink.write(chunk)
            partial.replace(target)
    finally:
        if http is None:
            client.close()
    return target


def _target(out: Path | None, saved: str) -> Path:
    if out is None:
        return Path.cwd() / saved
    return out / saved if out.is_dir() else out


def describe_presets(presets: list[dict[str, Any]]) -> list[str]:
    """One line per preset for `vodpipe presets`: name, version, sizes, outputs, description."""
    lines = []
    for preset in presets:
        sizes = []
        for rung in preset.get("rungs", []):
            if rung.get("width") and rung.get("height"):
                sizes.append(f"{rung['width']}x{rung['height']}")
            else:
                sizes.append(str(rung["name"]))
        fit = f" fit={preset['fit']}" if preset.get("fit") else ""
        shown = ",".join(sizes) or "no video"
        outputs = ",".join(preset.get("outputs", []))
        lines.append(
            f"{preset['name']} v{preset['version']}: {shown}{fit} -> {outputs}  {preset.get('description', '')}"
        )
    return lines
