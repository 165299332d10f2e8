#!/usr/bin/env bash
# Installs actionlint into .engine/bin (gitignored) from the Go module proxy; does nothing when
# the pinned version is already there. Needs Go; no other download.
set -euo pipefail

readonly ACTIONLINT_VERSION="v1.7.12"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="$repo_root/.engine/bin"
binary="$bin_dir/actionlint"

installed_version() {
  [ -x "$binary" ] || return 1
  # `actionlint -version` prints the module version on its first line, e.g. "v1.7.12".
  "$binary" -version 2>/dev/null | head -n 1
}

if [ "$(installed_version || true)" = "$ACTIONLINT_VERSION" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-actionlint: Go is missing; install it (apt-get install -y golang) or put actionlint $ACTIONLINT_VERSION on PATH" >&2
  exit 1
fi
mkdir -p "$bin_dir"
echo "install-actionlint: building actionlint $ACTIONLINT_VERSION into .engine/bin" >&2
GOBIN="$bin_dir" GOFLAGS=-buildvcs=false go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
version="$(installed_version || true)"
if [ "$version" != "$ACTIONLINT_VERSION" ]; then
  echo "install-actionlint: built actionlint reports version '${version:-none}', expected $ACTIONLINT_VERSION" >&2
  exit 1
fi
