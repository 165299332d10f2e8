# shellcheck shell=bash
# Source this file (`source scripts/dev/node-env.sh`) after scripts/dev/install-node.sh.
#
# Puts .node/bin (Node 24 with its npm, installed there when the machine's node is older) first on
# PATH, so node, npm, npx, tsx, jest and everything they start, the Pulumi language host included,
# run on it. Without .node/bin the machine's node is new enough and PATH stays as it is.
# It only sets PATH: safe to source from scripts that use `set -euo pipefail`.

_node_env_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.node/bin"
if [[ -x "$_node_env_bin/node" ]]; then
  # First, not just present: a PATH that had it behind /usr/bin would still run the old node.
  _node_env_path=":$PATH:"
  _node_env_path="${_node_env_path//":$_node_env_bin:"/:}"
  _node_env_path="${_node_env_path#:}"
  _node_env_path="${_node_env_path%:}"
  export PATH="$_node_env_bin${_node_env_path:+:$_node_env_path}"
  unset _node_env_path
fi
unset _node_env_bin
