# shellcheck shell=bash
# Source this to drive the `local` stack: a file:// backend inside the project (.pulumi-state,
# ignored by git) and a passphrase secrets provider. The passphrase below protects nothing but
# this machine's throwaway local stack; real stacks use the Pulumi service or their own provider.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/engine-env.sh
source "$_root/scripts/engine-env.sh"
export PULUMI_BACKEND_URL="file://$_root/.pulumi-state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-deep-calm-local-only}"
# The deployed tag is changed in a working copy of Pulumi.local.yaml, so git stays clean.
export LOCAL_CONFIG="$_root/.pulumi-state/Pulumi.local.yaml"
mkdir -p "$_root/.pulumi-state"
[ -f "$LOCAL_CONFIG" ] || cp "$_root/Pulumi.local.yaml" "$LOCAL_CONFIG"
(cd "$_root" && { pulumi stack select local >/dev/null 2>&1 || pulumi stack init local >/dev/null; })
# The local stack records its deploys in the local target's Postgres (a secret in the working copy).
if [ -f "$_root/.local-target/postgres.env" ] && ! grep -q 'deploymentLogDatabaseUrl' "$LOCAL_CONFIG"; then
  sed -n 's/^DATABASE_URL=//p' "$_root/.local-target/postgres.env" |
    (cd "$_root" && pulumi config set -s local --config-file "$LOCAL_CONFIG" --secret deploymentLogDatabaseUrl)
fi
unset _root

# The imageTag of the last successful `pulumi up` of the local stack, or nothing.
local_current_tag() {
  pulumi stack output image -s local 2>/dev/null | sed -n 's/.*://p'
}

# pulumi up -s local with the given imageTag (extra arguments are passed on).
local_up() {
  local tag=$1
  shift
  pulumi config set -s local --config-file "$LOCAL_CONFIG" imageTag "$tag"
  pulumi up -s local --config-file "$LOCAL_CONFIG" --yes --skip-preview "$@"
}
