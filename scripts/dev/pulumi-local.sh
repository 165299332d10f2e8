# shellcheck shell=bash
# Source this to drive the `local` and `local-k8s` stacks: a file:// backend inside the project (.pulumi-state,
# ignored by git) and a passphrase secrets provider. The passphrase protects nothing but this
# machine's throwaway local stack; real stacks use the Pulumi service or their own provider.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/dev/engine-env.sh
source "$_root/scripts/dev/engine-env.sh"
# Backend, passphrase and the working copy of Pulumi.local.yaml come from scripts/lib/pulumi.ts,
# which the TypeScript scripts use too; it creates the stack on first use.
_stack_env="$(cd "$_root" && "$_root/node_modules/.bin/tsx" scripts/dev/local-stack.ts)" || {
  echo "pulumi-local.sh: cannot prepare the local stack (npm ci, then scripts/dev/install-engine.sh)" >&2
  return 1
}
eval "$_stack_env"
unset _stack_env
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

# pulumi up -s local-k8s (the local cluster, scripts/dev/local-cluster.sh up) with the given imageTag.
k8s_up() {
  local tag=$1
  shift
  pulumi config set -s local-k8s --config-file "$LOCAL_K8S_CONFIG" imageTag "$tag"
  pulumi up -s local-k8s --config-file "$LOCAL_K8S_CONFIG" --yes --skip-preview "$@"
}
