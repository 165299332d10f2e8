#!/usr/bin/env bash
# Lints every GitHub Actions workflow with actionlint (installed into .engine/bin when missing),
# and the app repo's notify workflow shipped in docs/.
# actionlint runs shellcheck on each `run:` block when shellcheck is on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/ci/install-actionlint.sh
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "actionlint: shellcheck is missing, so run: blocks would go unchecked; apt-get install -y shellcheck" >&2
  exit 1
fi
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "actionlint: no workflows in .github/workflows" >&2
  exit 1
fi
workflows+=(docs/app-repo-notify.yml docs/app-repo-review.yml)
.engine/bin/actionlint -no-color "${workflows[@]}"
echo "actionlint: ${#workflows[@]} workflows clean"
