#!/usr/bin/env bash
# The whole test suite (`npm test`): lint, unit tests under mocks, Go tests of the command provider
# stand-in (tools/pulumi), integration tests against the real local target, and end-to-end tests
# with the real Pulumi engine when it is installed.
# Run as root on Debian; it starts the local target itself (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 for every step and all it starts (jest, tsx, the language host), whichever npm ran this.
bash scripts/install-node.sh
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh

step() { printf '\n==> %s\n' "$*"; }
results=test-output/jest
rm -rf "$results" && mkdir -p "$results"
# Each jest run also writes its counts, summed into one closing line at the end.
jest_suite() {
  npx jest --selectProjects "$1" --runInBand --json --outputFile="$results/$1.json"
}

step "lint (typecheck, eslint, prettier, shellcheck)"
npm run --silent lint

step "unit tests (Pulumi mocks)"
jest_suite unit

step "go tests (tools/pulumi: the command provider stand-in against an in-process SSH server)"
(cd tools/pulumi && go test ./...)

step "local target (dockerd, registry, sshd, nginx, postgres), demo images, prometheus and chromium"
bash scripts/local-target.sh up
bash scripts/demo-images.sh
bash scripts/observability-deps.sh

step "integration tests (real SSH, docker, nginx)"
jest_suite integration

step "pulumi engine"
bash scripts/install-engine.sh
step "end-to-end tests (real pulumi up on the local stack)"
jest_suite e2e

# shellcheck disable=SC2016 # the script is JavaScript
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results"
