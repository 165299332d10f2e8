# shellcheck shell=bash
# Source this file (`source scripts/engine-env.sh`) after scripts/install-engine.sh.
# It puts the engine built into .engine/bin (if any) first on PATH, so that
# `pulumi` finds the Node.js language host and the command provider as ambient
# plugins on PATH, and sets the environment for running with no network.
# It only sets variables: it is safe to source from scripts using `set -euo pipefail`.

_engine_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -d "$_engine_env_root/.engine/bin" ]]; then
  case ":$PATH:" in
    *":$_engine_env_root/.engine/bin:"*) ;;
    *) export PATH="$_engine_env_root/.engine/bin:$PATH" ;;
  esac
fi
unset _engine_env_root

# No update check against the Pulumi service.
export PULUMI_SKIP_UPDATE_CHECK=true
# Never download plugins: the program's package.json lists bridged providers
# (github, random, docker, pulumiservice) whose plugins are not available here.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Plugins are found on PATH (.engine/bin): keep ambient plugins enabled.
unset PULUMI_IGNORE_AMBIENT_PLUGINS
