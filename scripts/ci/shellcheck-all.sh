#!/usr/bin/env bash
# Shellchecks every shell file in the repository: *.sh, host/dc-release and anything with a shell shebang.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v shellcheck >/dev/null; then
  echo "shellcheck is missing: apt-get install -y shellcheck" >&2
  exit 1
fi
mapfile -t files < <(git ls-files --cached --others --exclude-standard | while read -r f; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sh | .ci/run) echo "$f" ;;
    *) head -c 64 "$f" | grep -qE '^#!.*\b(ba|da)?sh\b' && echo "$f" ;;
  esac
done)
shellcheck --external-sources "${files[@]}"
echo "shellcheck: ${#files[@]} files clean"
