# shellcheck shell=bash
# The helpers the local target and the local cluster share (scripts/dev/local-target.sh,
# scripts/dev/local-cluster.sh): Debian packages, pid files, detached starts, bounded waits, stops
# by pid only. The caller defines PACKAGES, LOG_DIR, say and die.

# Installs what of PACKAGES is missing (as root).
ensure_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say packages "already installed"
    return
  fi
  # A fresh image has no package lists; one update makes the install possible.
  compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null ||
    apt-get update >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed; see $LOG_DIR/apt.log"
  # Debian's policy-rc.d (exit 101) keeps packages (etcd, containerd) from starting services we do not track.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
    >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed; see $LOG_DIR/apt.log"
  say packages "installed ${missing[*]}"
}

# Prints the pid stored in a pid file if that process is alive; fails otherwise.
live_pid() {
  local file=$1 pid
  [[ -s $file ]] || return 1
  pid=$(head -n1 "$file" | tr -dc '0-9')
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# Runs a command detached from this shell, logging to a file; prints its pid.
spawn() {
  local log=$1; shift
  setsid "$@" >>"$log" 2>&1 </dev/null &
  printf '%s\n' "$!"
}

# Waits up to $1 seconds for the command to succeed.
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Sends TERM to a pid we started and waits for it to go away (KILL after $2 seconds).
stop_pid() {
  local pid=$1 seconds=$2
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_for "$seconds" bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
}
