#!/usr/bin/env bash
# `make e2e`: the app on real AWS for a few minutes. Deploys a throwaway stage (its own stack names and exports,
# removal DESTROY) to the account and region of your credentials with the pinned CDK CLI, sends one short generated
# clip through the API and fetches its HLS through CloudFront (vodpipe/admin/e2e.py), then empties the buckets and
# destroys the stacks, whatever happened (trap on exit). Needs `cdk bootstrap` once per account/region.
#   VODPIPE_E2E_STAGE   the stage's name (default e2e-<unix time>); stacks VodpipeStorage-<stage>, VodpipePipeline-<stage>
#   VODPIPE_E2E_KEEP=1  leave the stage deployed (to look at it); destroy it later with the command printed
#   E2E_CDK_ARGS        more `cdk` arguments, e.g. '-c vodpipe={"api_gateway_cloudwatch_role":true}' in an account
#                       whose API Gateway has no CloudWatch Logs role yet (README: Deploying to AWS)
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE="${VODPIPE_E2E_STAGE:-e2e-$(date +%s)}"
CDK=node_modules/.bin/cdk
PY=.venv/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1
read -r -a EXTRA <<< "${E2E_CDK_ARGS:-}"
CONTEXT=(-c "vodpipe:stage=$STAGE" -c ephemeral=true "${EXTRA[@]}")
OUT="$(mktemp -d)"

for tool in "$CDK" "$PY" layers/ffmpeg/build/bin/ffmpeg; do
  [ -x "$tool" ] || { echo "e2e: $tool is missing: run \`make setup\`" >&2; exit 2; }
done
if ! "$PY" -c 'import boto3, sys; sys.exit(0 if boto3.Session().get_credentials() else 1)'; then
  echo "e2e: no AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO…): it deploys to your own account" >&2
  exit 2
fi

destroy() {
  # S3 delivers server access logs minutes late: a log object may land after the buckets were emptied and fail the
  # bucket's deletion, so empty and destroy again (a destroyed stack is not destroyed twice).
  local attempt
  for attempt in 1 2 3; do
    echo "e2e: emptying and destroying stage $STAGE (attempt $attempt)"
    "$PY" -m vodpipe.admin.e2e empty --stage "$STAGE" || echo "e2e: could not empty the buckets (not deployed?)" >&2
    if "$CDK" destroy --all --force "${CONTEXT[@]}"; then
      return 0
    fi
    sleep 60
  done
  return 1
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "${VODPIPE_E2E_KEEP:-0}" = 1 ]; then
    echo "e2e: stage $STAGE kept; destroy it with: VODPIPE_E2E_STAGE=$STAGE bash scripts/e2e.sh --destroy"
  elif ! destroy; then
    echo "e2e: DESTROY FAILED: delete the stacks VodpipePipeline-$STAGE, then VodpipeStorage-$STAGE by hand" >&2
    status=1
  fi
  rm -rf "$OUT"
  exit "$status"
}

if [ "${1:-}" = "--destroy" ]; then
  destroy
  exit
fi

trap cleanup EXIT
trap 'exit 130' INT TERM
echo "e2e: deploying stage $STAGE"
"$CDK" deploy --all --require-approval never --outputs-file "$OUT/outputs.json" "${CONTEXT[@]}"
"$PY" -m vodpipe.admin.e2e run --outputs "$OUT/outputs.json" --stage "$STAGE"
echo "e2e: passed"
