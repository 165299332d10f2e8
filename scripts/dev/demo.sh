#!/usr/bin/env bash
# The main job (`npm run demo`, as root on Debian): brings up the local target and the Pulumi
# engine, builds the demo images, then deploys the `local` stack to this machine with real
# `pulumi up`: v1, then v2 (blue/green, health-gated). A second run finds v2 live and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "node"
# Node 24 for tsx and the Pulumi language host, even when an older npm started this script.
bash scripts/dev/install-node.sh
# shellcheck source=scripts/dev/node-env.sh
source scripts/dev/node-env.sh
step "local target"
bash scripts/dev/local-target.sh up
step "demo images"
bash scripts/dev/demo-images.sh
step "pulumi engine"
bash scripts/dev/install-engine.sh
# shellcheck source=scripts/dev/pulumi-local.sh
source scripts/dev/pulumi-local.sh

deploy() {
  local tag=$1
  step "pulumi up -s local (imageTag=$tag)"
  local_up "$tag"
  printf 'URL:     %s\n' "$(pulumi stack output url -s local)"
  # One line of JSON; the strings (a reason, say) keep their spaces.
  printf 'release: %s\n' "$(pulumi stack output release -s local --json |
    node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(0, "utf8"))))')"
}

if [ "$(local_current_tag)" != "v2" ]; then
  deploy v1
fi
deploy v2
step "serving through nginx"
curl -fsS --max-time 5 http://127.0.0.1:8080/version
step "deployment log (recorded by pulumi up itself)"
npx tsx scripts/ops/history.ts local --limit 5
printf '\n\ndone in %ss\n' "$(($(date +%s) - started))"
