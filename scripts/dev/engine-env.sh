# shellcheck shell=bash
# Source this file (`source scripts/dev/engine-env.sh`) after scripts/dev/install-engine.sh.
#
# - Puts Node 24 on PATH (scripts/dev/node-env.sh): the language host runs the program with the
#   `node` it finds on PATH.
# - Puts .engine/bin (if built) first on PATH: the `pulumi` CLI, with the Node.js
#   language host next to it, where the CLI looks for its bundled language hosts.
#   The command and kubernetes providers are not on PATH (that would make the CLI warn on every
#   run): install-engine.sh installed them into the plugin cache
#   (${PULUMI_HOME:-~/.pulumi}/plugins/resource-command-v1.2.1, resource-kubernetes-v<the version
#   of @pulumi/kubernetes in package.json>).
# - Sets the environment for running with no network when the engine was built here.
# It only sets variables: safe to source from scripts that use `set -euo pipefail`.

_engine_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/dev/node-env.sh
source "$_engine_env_root/scripts/dev/node-env.sh"
if [[ -x "$_engine_env_root/.engine/bin/pulumi" ]]; then
  case ":$PATH:" in
    *":$_engine_env_root/.engine/bin:"*) ;;
    *) export PATH="$_engine_env_root/.engine/bin:$PATH" ;;
  esac
fi

# No update check against the Pulumi service.
export PULUMI_SKIP_UPDATE_CHECK=true
# Never download plugins where the engine was built here: install-engine.sh builds it only when
# Pulumi cannot be downloaded, so plugins cannot be either, and the local stack (the one stack
# this file is sourced for, by pulumi-local.sh) needs none beyond the command and kubernetes
# plugins it installed.
# Without this the CLI tries, and fails non-fatally, to download the bridged providers (github,
# random, docker, pulumiservice) that the language host reports for a project with node_modules
# in its program directory, like the deployment-hooks e2e fixture. A machine with a real Pulumi
# install (and a GitHub runner) keeps acquisition on; scripts/lib/pulumi.ts turns it off for the
# local stack only and leaves every other stack's setting to the caller's environment.
if [[ "$(command -v pulumi 2>/dev/null)" == "$_engine_env_root/.engine/bin/pulumi" ]]; then
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
fi
unset _engine_env_root
