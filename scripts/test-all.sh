#!/usr/bin/env bash
# The whole test suite (`npm test`): lint, unit tests under mocks, integration tests against the
# real local target, and end-to-end tests with the real Pulumi engine when it is installed.
# Run as root on Debian; it starts the local target itself (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "lint (typecheck, eslint, prettier, shellcheck)"
npm run --silent lint

step "unit tests (Pulumi mocks)"
npx jest --selectProjects unit

step "local target (dockerd, registry, sshd, nginx, postgres), demo images, prometheus and chromium"
bash scripts/local-target.sh up
bash scripts/demo-images.sh
bash scripts/observability-deps.sh

step "integration tests (real SSH, docker, nginx)"
npx jest --selectProjects integration --runInBand

if [ -d tests/e2e ] && [ -n "$(ls tests/e2e 2>/dev/null)" ]; then
  step "pulumi engine"
  bash scripts/install-engine.sh
  step "end-to-end tests (real pulumi up on the local stack)"
  npx jest --selectProjects e2e --runInBand
fi
