#!/usr/bin/env bash
# Installs what the observability tests run for real: Debian's prometheus and chromium.
# Idempotent: only missing packages are installed (needs root and the Debian mirror).
set -euo pipefail

readonly PACKAGES=(prometheus chromium)

missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$pkg"
    fi
  done
}

main() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    echo "observability deps: ${PACKAGES[*]} already installed"
    return 0
  fi
  echo "observability deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Tests start their own prometheus on a loopback port; the packaged service is not used.
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

main "$@"
