#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser): Playwright drives it through executable_path and never
# downloads a browser of its own. Idempotent: nothing to do when /usr/bin/chromium exists.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" == 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-chromium: not root and no sudo; run \`apt-get install chromium\` as root" >&2
  exit 1
fi
printf '\033[1m==> %s\033[0m\n' "Chromium (Debian package) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
[[ -x "$CHROMIUM" ]] || { echo "install-chromium: $CHROMIUM still missing after apt-get" >&2; exit 1; }
