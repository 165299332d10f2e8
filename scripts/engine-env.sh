# shellcheck shell=bash
# Source this file (`source scripts/engine-env.sh`) after scripts/install-engine.sh.
#
# - Puts Node 24 on PATH (scripts/node-env.sh): the language host runs the program with the
#   `node` it finds on PATH.
# - Puts .engine/bin (if built) first on PATH: the `pulumi` CLI, with the Node.js
#   language host next to it, where the CLI looks for its bundled language hosts.
#   The command provider is not on PATH (that would make the CLI warn on every
#   run): install-engine.sh installed it into the plugin cache
#   (${PULUMI_HOME:-~/.pulumi}/plugins/resource-command-v1.2.1).
# - Sets the environment for running with no network.
# It only sets variables: safe to source from scripts that use `set -euo pipefail`.

_engine_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/node-env.sh
source "$_engine_env_root/scripts/node-env.sh"
if [[ -x "$_engine_env_root/.engine/bin/pulumi" ]]; then
  case ":$PATH:" in
    *":$_engine_env_root/.engine/bin:"*) ;;
    *) export PATH="$_engine_env_root/.engine/bin:$PATH" ;;
  esac
fi
unset _engine_env_root

# No update check against the Pulumi service.
export PULUMI_SKIP_UPDATE_CHECK=true
# Never download plugins. The language host reports the plugins of every package
# in a node_modules below the program directory: none for this project (its
# program directory, stacks/, holds no node_modules), but the bridged providers
# (github, random, docker, pulumiservice) for a project with its node_modules in
# it, like the deployment-hooks e2e fixture. Without this the CLI tries to
# download their plugins before every run (it fails, non-fatally, when there is
# no network). Their plugins are only needed when a resource of theirs is created.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
