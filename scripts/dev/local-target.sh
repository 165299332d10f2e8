#!/usr/bin/env bash
# Local target: this Debian machine as a deploy host (dockerd, registry, sshd, nginx, Postgres).
# Usage: scripts/dev/local-target.sh up|down|status   (as root; state in <repo>/.local-target/)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STATE_DIR="$REPO_ROOT/.local-target"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
SSH_DIR="$STATE_DIR/ssh"
HOST_KEY_TYPES="rsa ecdsa ed25519" # known_hosts order; sshd offers all three
REGISTRY_DIR="$STATE_DIR/registry"

PACKAGES=(docker.io docker-registry openssh-server openssh-client nginx postgresql busybox-static
  curl sudo apache2-utils util-linux docker-compose shellcheck)

DEPLOY_USER=deploy
DEPLOY_HOME=/home/deploy
APP_ROOT=/opt/deep-calm
SSH_PORT=2222
# Root logs in on this sshd only, with the test key below (the bootstrap's admin in the e2e test);
# the users that test bootstraps log in with the keys it generates.
ROOT_KEY="$SSH_DIR/root_ed25519"
# Root's authorized key for the local sshd only. Not under the checkout: sshd's StrictModes refuses
# a key file below a group- or world-writable directory, which a checkout under /tmp has.
ROOT_AUTHORIZED_KEYS_DIR=/etc/ssh/deep-calm-local-target
ROOT_AUTHORIZED_KEYS="$ROOT_AUTHORIZED_KEYS_DIR/root_authorized_keys"
BOOTSTRAP_TEST_USERS=dcboot
REGISTRY_ADDR=127.0.0.1:5000
SUDOERS_FILE=/etc/sudoers.d/deep-calm-deploy
NGINX_CONF=/etc/nginx/conf.d/deep-calm.conf
NGINX_PIDFILE=/run/nginx.pid
PG_DB=deepcalm
PG_ROLE=deepcalm
PG_ENV="$STATE_DIR/postgres.env"

say() { printf '%-10s %s\n' "$1:" "$2"; }
die() { printf 'local-target: %s\n' "$*" >&2; exit 1; }

# live_pid, spawn, wait_for, stop_pid
# shellcheck source=scripts/lib/daemons.sh
source "$REPO_ROOT/scripts/lib/daemons.sh"

CHANGED=false # set by write_if_changed

# Writes stdin to a file (0644) unless it already has that content; sets CHANGED=true if it wrote.
write_if_changed() {
  local file=$1 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$file"
    chmod 0644 "$file"
    CHANGED=true
  fi
}

# ---- packages ---------------------------------------------------------------------------

# ensure_packages: scripts/lib/daemons.sh, over PACKAGES.

# ---- dockerd ----------------------------------------------------------------------------

# /usr/local/bin/docker (28.x) negotiates API 1.41 with Debian's dockerd 20.10 and works, builds
# included (legacy builder: no buildx here); /usr/bin/docker (20.10) works too. No `docker compose`
# v2 plugin here: Debian's docker-compose (v1) is the compose on this machine.
docker_answers() { docker info >/dev/null 2>&1; }

ensure_dockerd() {
  local pid
  if docker_answers; then
    pid=$(live_pid "$RUN_DIR/dockerd.pid" || live_pid /var/run/docker.pid || echo '?')
    say dockerd "already running (pid $pid)"
    return
  fi
  spawn "$LOG_DIR/dockerd.log" dockerd --bridge=none --iptables=false --ip6tables=false \
    --pidfile="$RUN_DIR/dockerd.pid" >/dev/null
  wait_for 60 docker_answers || die "dockerd did not answer within 60s; see $LOG_DIR/dockerd.log"
  say dockerd "started (pid $(live_pid "$RUN_DIR/dockerd.pid"))"
}

# ---- registry ---------------------------------------------------------------------------

registry_answers() { curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

write_registry_config() {
  mkdir -p "$REGISTRY_DIR/data"
  cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

ensure_registry() {
  local pid
  write_registry_config
  if registry_answers; then
    say registry "already running (pid $(live_pid "$RUN_DIR/registry.pid" || echo '?')) on $REGISTRY_ADDR"
    return
  fi
  pid=$(spawn "$LOG_DIR/registry.log" /usr/bin/docker-registry serve "$REGISTRY_DIR/config.yml")
  printf '%s\n' "$pid" >"$RUN_DIR/registry.pid"
  wait_for 20 registry_answers || die "registry did not answer on $REGISTRY_ADDR; see $LOG_DIR/registry.log"
  say registry "started (pid $pid) on $REGISTRY_ADDR"
}

# ---- deploy user, sudoers, /opt/deep-calm ------------------------------------------------

ensure_deploy_user() {
  if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
    useradd --create-home --home-dir "$DEPLOY_HOME" --shell /bin/bash --groups docker "$DEPLOY_USER"
    say user "created $DEPLOY_USER"
  else
    say user "$DEPLOY_USER already exists"
  fi
  # '*' = no password, yet not locked: sshd refuses key logins for locked ('!') accounts.
  usermod --password '*' --shell /bin/bash "$DEPLOY_USER"
  id -nG "$DEPLOY_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$DEPLOY_USER"
  install -d -o "$DEPLOY_USER" -g "$DEPLOY_USER" -m 0755 "$APP_ROOT"
}

ensure_sudoers() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# deep-calm-deploy: the deploy user may test and reload nginx, nothing else.
$DEPLOY_USER ALL=(root) NOPASSWD: /usr/sbin/nginx -t, /usr/sbin/nginx -s reload
EOF
  visudo -cqf "$tmp" || { rm -f "$tmp"; die "generated sudoers did not validate"; }
  if cmp -s "$tmp" "$SUDOERS_FILE"; then
    rm -f "$tmp"
  else
    install -o root -g root -m 0440 "$tmp" "$SUDOERS_FILE"
    rm -f "$tmp"
  fi
  say sudoers "$SUDOERS_FILE (nginx -t, nginx -s reload)"
}

# ---- sshd -------------------------------------------------------------------------------

write_ssh_files() {
  mkdir -p "$SSH_DIR"
  chmod 0700 "$SSH_DIR"
  local type
  # Three host keys, as servers in the field have: tests pin each type; the rsa one is listed
  # first in known_hosts so that the program's preference (ed25519, then ecdsa) is exercised.
  for type in $HOST_KEY_TYPES; do
    [[ -f $SSH_DIR/ssh_host_${type}_key ]] ||
      ssh-keygen -q -t "$type" -N '' -C deep-calm-local-host -f "$SSH_DIR/ssh_host_${type}_key"
  done
  [[ -f $SSH_DIR/id_ed25519 ]] ||
    ssh-keygen -q -t ed25519 -N '' -C deep-calm-local-deploy -f "$SSH_DIR/id_ed25519"
  [[ -f $ROOT_KEY ]] ||
    ssh-keygen -q -t ed25519 -N '' -C deep-calm-local-root -f "$ROOT_KEY"
  install -d -o root -g root -m 0755 "$ROOT_AUTHORIZED_KEYS_DIR"
  write_if_changed "$ROOT_AUTHORIZED_KEYS" <"$ROOT_KEY.pub"
  for type in $HOST_KEY_TYPES; do
    printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/ssh_host_${type}_key.pub")"
  done >"$SSH_DIR/known_hosts"

  install -d -o "$DEPLOY_USER" -g "$DEPLOY_USER" -m 0700 "$DEPLOY_HOME/.ssh"
  touch "$DEPLOY_HOME/.ssh/authorized_keys"
  grep -qxF "$(cat "$SSH_DIR/id_ed25519.pub")" "$DEPLOY_HOME/.ssh/authorized_keys" ||
    cat "$SSH_DIR/id_ed25519.pub" >>"$DEPLOY_HOME/.ssh/authorized_keys"
  chown "$DEPLOY_USER:$DEPLOY_USER" "$DEPLOY_HOME/.ssh/authorized_keys"
  chmod 0600 "$DEPLOY_HOME/.ssh/authorized_keys"

  write_if_changed "$SSH_DIR/sshd_config" <<EOF
# deep-calm local target: loopback only, keys only; the deploy user, root with the test key
# (root may not use a password), and the users the bootstrap test creates.
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/ssh_host_rsa_key
HostKey $SSH_DIR/ssh_host_ecdsa_key
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $RUN_DIR/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers $DEPLOY_USER root $BOOTSTRAP_TEST_USERS
UsePAM no
X11Forwarding no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp
# Root's key is this checkout's test key alone (never /root/.ssh).
Match User root
  AuthorizedKeysFile $ROOT_AUTHORIZED_KEYS
EOF
}

ssh_answers() {
  ssh -i "$SSH_DIR/id_ed25519" -o UserKnownHostsFile="$SSH_DIR/known_hosts" -o StrictHostKeyChecking=yes \
    -o BatchMode=yes -o ConnectTimeout=5 -p "$SSH_PORT" "$DEPLOY_USER@127.0.0.1" true
}

ensure_sshd() {
  local pid
  CHANGED=false
  write_ssh_files
  mkdir -p /run/sshd
  /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || die "sshd config $SSH_DIR/sshd_config is invalid"
  if pid=$(live_pid "$RUN_DIR/sshd.pid"); then
    if $CHANGED; then
      kill -HUP "$pid"
      say sshd "already running (pid $pid) on 127.0.0.1:$SSH_PORT, config reloaded"
    else
      say sshd "already running (pid $pid) on 127.0.0.1:$SSH_PORT"
    fi
  else
    /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$LOG_DIR/sshd.log"
    wait_for 10 live_pid "$RUN_DIR/sshd.pid" || die "sshd did not start; see $LOG_DIR/sshd.log"
    say sshd "started (pid $(live_pid "$RUN_DIR/sshd.pid")) on 127.0.0.1:$SSH_PORT"
  fi
  wait_for 10 ssh_answers || die "ssh as $DEPLOY_USER@127.0.0.1:$SSH_PORT failed; see $LOG_DIR/sshd.log"
}

# ---- nginx ------------------------------------------------------------------------------

ensure_nginx() {
  local pid
  CHANGED=false
  # Each environment's release procedure owns /opt/deep-calm/<env>/nginx/enabled.conf.
  write_if_changed "$NGINX_CONF" <<<'include /opt/deep-calm/*/nginx/enabled.conf;'
  nginx -t -q 2>>"$LOG_DIR/nginx.log" || die "nginx -t failed with $NGINX_CONF; see $LOG_DIR/nginx.log"
  if pid=$(live_pid "$NGINX_PIDFILE"); then
    if $CHANGED; then
      nginx -s reload 2>>"$LOG_DIR/nginx.log"
      say nginx "already running (pid $pid), reloaded for $NGINX_CONF"
    else
      say nginx "already running (pid $pid)"
    fi
    return
  fi
  nginx 2>>"$LOG_DIR/nginx.log"
  wait_for 10 live_pid "$NGINX_PIDFILE" || die "nginx did not start; see /var/log/nginx/error.log"
  pid=$(live_pid "$NGINX_PIDFILE")
  printf '%s\n' "$pid" >"$RUN_DIR/nginx.pid"
  say nginx "started (pid $pid)"
}

# ---- postgres ---------------------------------------------------------------------------

# Prints "<version> <cluster>" of the first Debian cluster.
pg_cluster() { pg_lsclusters --no-header | awk 'NR==1 {print $1, $2}'; }

pg_pid() {
  local ver name
  read -r ver name <<<"$(pg_cluster)"
  live_pid "/var/run/postgresql/$ver-$name.pid"
}

pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }

# Runs SQL from stdin as the postgres superuser.
psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -At; }

ensure_postgres() {
  local ver name pid password
  if [[ -z "$(pg_cluster)" ]]; then
    pg_createcluster --port 5432 "$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)" main >/dev/null
  fi
  read -r ver name <<<"$(pg_cluster)"
  local conf_dir="/etc/postgresql/$ver/$name/conf.d"
  mkdir -p "$conf_dir"
  printf "listen_addresses = '127.0.0.1'\nport = 5432\n" >"$conf_dir/deep-calm.conf"
  if pid=$(pg_pid); then
    say postgres "already running (pid $pid) cluster $ver/$name on 127.0.0.1:5432"
  else
    pg_ctlcluster "$ver" "$name" start
    pid=$(pg_pid) || die "postgres cluster $ver/$name did not start; see pg_lsclusters"
    printf '%s\n' "$pid" >"$RUN_DIR/postgres.pid"
    say postgres "started (pid $pid) cluster $ver/$name on 127.0.0.1:5432"
  fi
  wait_for 30 pg_answers || die "postgres does not answer on 127.0.0.1:5432"

  if [[ -f $PG_ENV ]]; then
    password=$(sed -n 's|^DATABASE_URL=postgres://[^:]*:\([^@]*\)@.*|\1|p' "$PG_ENV")
  fi
  [[ -n ${password:-} ]] || password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  # The password travels on stdin, never on a command line.
  psql_admin <<EOF
SELECT 'CREATE ROLE $PG_ROLE LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE') \gexec
ALTER ROLE $PG_ROLE WITH LOGIN PASSWORD '$password';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
EOF
  (umask 077 && printf 'DATABASE_URL=postgres://%s:%s@127.0.0.1:5432/%s\n' "$PG_ROLE" "$password" "$PG_DB" >"$PG_ENV")
  chmod 0600 "$PG_ENV"
  say database "$PG_DB (role $PG_ROLE) ready; DATABASE_URL in $PG_ENV"
}

# ---- commands ---------------------------------------------------------------------------

cmd_up() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  ensure_packages
  ensure_dockerd
  ensure_registry
  ensure_deploy_user
  ensure_sudoers
  ensure_sshd
  ensure_nginx
  ensure_postgres
  say ready "ssh -i $SSH_DIR/id_ed25519 -o UserKnownHostsFile=$SSH_DIR/known_hosts -p $SSH_PORT $DEPLOY_USER@127.0.0.1"
  say admin "ssh -i $ROOT_KEY -o UserKnownHostsFile=$SSH_DIR/known_hosts -p $SSH_PORT root@127.0.0.1 (bootstrap tests)"
}

cmd_down() {
  local pid ver name
  if pid=$(live_pid "$RUN_DIR/nginx.pid") && [[ "$(live_pid "$NGINX_PIDFILE" || true)" == "$pid" ]]; then
    nginx -s quit 2>>"$LOG_DIR/nginx.log"
    wait_for 20 bash -c "! kill -0 $pid" || true
    say nginx "stopped (pid $pid)"
  else
    say nginx "not started by us, left alone"
  fi
  rm -f "$RUN_DIR/nginx.pid"

  if pid=$(live_pid "$RUN_DIR/postgres.pid") && [[ "$(pg_pid || true)" == "$pid" ]]; then
    read -r ver name <<<"$(pg_cluster)"
    pg_ctlcluster "$ver" "$name" stop -m fast
    say postgres "stopped (pid $pid)"
  else
    say postgres "not started by us, left alone"
  fi
  rm -f "$RUN_DIR/postgres.pid"

  # pid file -> the command name that pid must still have (guards against a reused pid).
  local svc
  declare -A comm=([sshd]=sshd [registry]=docker-registry [dockerd]=dockerd)
  for svc in sshd registry dockerd; do
    if pid=$(live_pid "$RUN_DIR/$svc.pid") && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "${comm[$svc]}" ]]; then
      stop_pid "$pid" 30
      say "$svc" "stopped (pid $pid)"
    else
      say "$svc" "not started by us, left alone"
    fi
    rm -f "$RUN_DIR/$svc.pid"
  done
}

# Prints one component's state; returns non-zero when it is down.
check() {
  local name=$1 pidfile=$2; shift 2
  if "$@" >/dev/null 2>&1; then
    say "$name" "running (pid $(live_pid "$pidfile" || echo '?'))"
  else
    say "$name" "DOWN"
    return 1
  fi
}

cmd_status() {
  local rc=0 ver name
  read -r ver name <<<"$(pg_cluster 2>/dev/null || true)"
  check dockerd "$RUN_DIR/dockerd.pid" docker_answers || rc=1
  check registry "$RUN_DIR/registry.pid" registry_answers || rc=1
  check sshd "$RUN_DIR/sshd.pid" ssh_answers || rc=1
  check nginx "$NGINX_PIDFILE" live_pid "$NGINX_PIDFILE" || rc=1
  check postgres "/var/run/postgresql/${ver:-none}-${name:-none}.pid" pg_answers || rc=1
  return "$rc"
}

main() {
  [[ $EUID -eq 0 ]] || die "run as root (it installs packages and starts system daemons)"
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) die "usage: $0 up|down|status" ;;
  esac
}

main "$@"
