#!/usr/bin/env bash
# The whole test suite (`npm test`, and what .ci/run runs): lint, unit tests (Pulumi mocks and local
# processes), bats tests of host/dc-release, Go tests of the engine stand-ins (tools/pulumi),
# integration tests against the real local target, and end-to-end tests with the real Pulumi engine,
# which it installs, on the local target and on the local Kubernetes cluster (which it builds and
# starts). Ends with one line counting every test of every step.
# Run as root on Debian; it starts the local target and the local cluster itself (idempotent).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Node 24 for every step and all it starts (jest, tsx, the language host), whichever npm ran this.
bash scripts/dev/install-node.sh
# shellcheck source=scripts/dev/node-env.sh
source scripts/dev/node-env.sh

step() { printf '\n==> %s\n' "$*"; }
results=test-output/jest
go_results=test-output/go-test.txt
rm -rf "$results" "$go_results" && mkdir -p "$results"
# Each jest run also writes its counts, summed into one closing line at the end.
jest_suite() {
  npx jest --selectProjects "$1" --runInBand --json --outputFile="$results/$1.json"
}

step "lint (typecheck, eslint, prettier, shellcheck)"
npm run --silent lint

step "unit tests (Pulumi mocks)"
jest_suite unit

step "host procedure unit tests (bats: dc-release's argument checks, state and JSON output)"
mkdir -p test-output
bats --tap tests/host | tee test-output/bats.tap

step "go tests (tools/pulumi: the stand-ins checked against the real provider's and language host's behaviour)"
# -v so that each Go test is counted in the closing line too; its full output stays in $go_results.
go_status=0
(cd tools/pulumi && go test -v ./...) >"$go_results" 2>&1 || go_status=$?
grep -E '^(--- |ok|FAIL)' "$go_results" || true
if ((go_status != 0)); then
  tail -n 60 "$go_results"
  exit "$go_status"
fi

step "local target (dockerd, registry, sshd, nginx, postgres), demo images, prometheus and chromium"
bash scripts/dev/local-target.sh up
bash scripts/dev/demo-images.sh
bash scripts/dev/observability-deps.sh

step "integration tests (real SSH, docker, nginx)"
jest_suite integration

step "pulumi engine (the CLI, the Node.js language host, the command and Kubernetes providers)"
bash scripts/dev/install-engine.sh
step "local cluster (Kubernetes v1.33 built from the Go module proxy, two nodes in network namespaces)"
bash scripts/dev/local-cluster.sh up
step "end-to-end tests (real pulumi up on the local stack and on the local cluster)"
jest_suite e2e

# shellcheck disable=SC2016 # the script is JavaScript
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
  }
  const tap = fs.readFileSync("test-output/bats.tap", "utf8");
  passed += (tap.match(/^ok /gm) ?? []).length;
  failed += (tap.match(/^not ok /gm) ?? []).length;
  const go = fs.readFileSync(process.argv[2], "utf8");
  passed += (go.match(/^--- PASS/gm) ?? []).length;
  failed += (go.match(/^--- FAIL/gm) ?? []).length;
  skipped += (go.match(/^--- SKIP/gm) ?? []).length;
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results" "$go_results"
