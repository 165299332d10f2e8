#!/usr/bin/env bash
# Health and smoke checks after a deploy, from outside the server, through the env's public URL:
#   post-deploy-check.sh <url> <health-path> [<smoke-path>...]
# The health path is retried while the release settles; every smoke path must then answer 2xx.
# With BASIC_AUTH_PASS set (and BASIC_AUTH_USER, default ops), curl gets the credentials as a config
# on stdin: they are on no command line and in no log.
set -euo pipefail

readonly HEALTH_RETRIES="${HEALTH_RETRIES:-20}"
readonly HEALTH_DELAY="${HEALTH_DELAY:-3}"

if [ "$#" -lt 2 ]; then
  echo "usage: post-deploy-check.sh <url> <health-path> [<smoke-path>...]" >&2
  exit 2
fi
base="${1%/}"
shift
case "$base" in
  http://* | https://*) ;;
  *)
    echo "post-deploy-check: the url must start with http:// or https://; got '$base'" >&2
    exit 2
    ;;
esac

# curl config for basic auth (quotes and backslashes escaped for curl's config syntax).
auth_config() {
  if [ -n "${BASIC_AUTH_PASS:-}" ]; then
    local credentials="${BASIC_AUTH_USER:-ops}:$BASIC_AUTH_PASS"
    credentials="${credentials//\\/\\\\}"
    printf 'user = "%s"\n' "${credentials//\"/\\\"}"
  fi
}

# probe PATH [curl options...]: prints the HTTP status; fails unless it is 2xx.
probe() {
  local path="$1"
  shift
  auth_config | curl --config - --silent --show-error --fail --output /dev/null --write-out '%{http_code}' \
    --max-time 10 "$@" -- "$base$path"
}

health="$1"
shift
# Maintenance mode (README: Maintenance mode): the public gets nginx's 503 page, marked
# X-Deep-Calm-Maintenance: on, whatever the release does. dc-release already checked the release
# through nginx on the host, so there is nothing to check from outside: say so and pass.
headers="$(auth_config | curl --config - --silent --output /dev/null --dump-header - --max-time 10 -- "$base$health" 2>/dev/null || true)"
if printf '%s' "$headers" | tr -d '\r' | grep -qi '^x-deep-calm-maintenance: *on$'; then
  echo "health: $base$health serves the maintenance page (maintenance is on); the release was checked through nginx on the host"
  exit 0
fi
if ! code="$(probe "$health" --retry "$HEALTH_RETRIES" --retry-delay "$HEALTH_DELAY" --retry-all-errors)"; then
  echo "health: $base$health did not answer 2xx after $HEALTH_RETRIES retries" >&2
  exit 1
fi
echo "health: $base$health $code"
failed=0
for path in "$@"; do
  if code="$(probe "$path")"; then
    echo "smoke:  $base$path $code"
  else
    echo "smoke:  $base$path failed (${code:-no answer})" >&2
    failed=1
  fi
done
exit "$failed"
