#!/usr/bin/env bats
# host/dc-release's claim of an env's port pair and the limit of review envs (pr-<n>) under one
# root: claim_ports on a scratch root, with no docker, nginx or SSH.

bats_require_minimum_version 1.5.0
load helper

setup() {
  source_dc_release
  ROOT=$BATS_TEST_TMPDIR/root
  mkdir -p "$ROOT"
  LOCK_TIMEOUT=1
  MAX_REVIEW_ENVS=10
}

# An env $1 that holds the pair $2 (state/ports).
holding() {
  mkdir -p "$ROOT/$1/state"
  printf '%s\n' "$2" >"$ROOT/$1/state/ports"
}

# Claims the pair $2 for env $1 in a subshell; its reason (when it fails) in $output.
claim() {
  local env=$1 ports=$2
  run --separate-stderr claim_in_subshell "$env" "$ports"
}

claim_in_subshell() {
  (
    ENV_NAME=$1 PORTS=$2 PORT_A=${2%,*} PORT_B=${2#*,}
    setup_env_dir
    mkdir -p "$STATE_DIR"
    fail() {
      printf '%s\n' "$2"
      exit "$1"
    }
    claim_ports
  )
}

@test "an env takes a free pair and records it in state/ports" {
  holding dev 8101,8102
  claim pr-7 9121,9122
  [ "$status" -eq 0 ]
  [ "$(cat "$ROOT/pr-7/state/ports")" = 9121,9122 ]
}

@test "a pair another env holds is refused, naming that env and its ports" {
  holding pr-3 9109,9110
  claim pr-36 9110,9109
  [ "$status" -eq 2 ]
  [[ $output == "ports 9110,9109: port 9109 is held by env pr-3 ($ROOT/pr-3, ports 9109,9110);"* ]]
  [ ! -f "$ROOT/pr-36/state/ports" ]
}

@test "an env from before state/ports holds the ports its enabled site routes to" {
  mkdir -p "$ROOT/local/nginx"
  printf '  if (-f x/live/8101) { set $deep_calm_port 8101; }\n  if (-f x/live/8102) { set $deep_calm_port 8102; }\n' >"$ROOT/local/nginx/site.conf"
  ln -s site.conf "$ROOT/local/nginx/enabled.conf"
  claim pr-1 8102,9101
  [ "$status" -eq 2 ]
  [[ $output == *"held by env local"*"ports 8101,8102"* ]]
}

@test "an env whose site is not enabled and that records no pair holds nothing (removed, or never served)" {
  mkdir -p "$ROOT/pr-2/nginx" "$ROOT/pr-2/state"
  printf '  if (-f x/live/9106) { set $deep_calm_port 9106; }\n' >"$ROOT/pr-2/nginx/site.conf"
  claim pr-4 9106,9107
  [ "$status" -eq 0 ]
}

@test "redeploying an env keeps its own pair" {
  holding pr-5 9115,9116
  claim pr-5 9115,9116
  [ "$status" -eq 0 ]
}

@test "past --max-review-envs a new review env is refused, naming the ones there" {
  MAX_REVIEW_ENVS=2
  holding pr-1 9103,9104
  holding pr-2 9106,9107
  holding dev 8101,8102
  claim pr-3 9109,9110
  [ "$status" -eq 2 ]
  [[ $output == "review envs: $ROOT holds 2 already (pr-1 pr-2), at most --max-review-envs 2; destroy one before pr-3" ]]
}

@test "a review env already counted redeploys at the limit, and other envs are not counted" {
  MAX_REVIEW_ENVS=2
  holding pr-1 9103,9104
  holding pr-2 9106,9107
  claim pr-2 9106,9107
  [ "$status" -eq 0 ]
  claim test 8201,8202
  [ "$status" -eq 0 ]
}

# ---- prune stays within the env ---------------------------------------------------------------

# docker as a log of calls; `image inspect` answers an id per reference, so every image "exists".
stub_docker_images() {
  docker() {
    printf '%s\n' "$*" >>"$BATS_TEST_TMPDIR/docker.calls"
    if [[ $1 == image && $2 == inspect ]]; then printf 'id-%s\n' "${*: -1}"; fi
    return 0
  }
  : >"$BATS_TEST_TMPDIR/docker.calls"
}

@test "a review env's prune removes only its own old images, never one another env still records" {
  stub_docker_images
  ENV_NAME=pr-1
  setup_env_dir
  mkdir -p "$STATE_DIR" "$ROOT/pr-2/state" "$ROOT/local/state"
  RUN[log]=$BATS_TEST_TMPDIR/run.log
  KEEP=2
  printf '%s\n' 'sha256:a1 pr-1 r/app 1' 'sha256:b2 pr-1 r/app 2' 'sha256:c3 pr-1 r/app 3' 'sha256:d4 pr-1 r/app 4' >"$STATE_DIR/releases"
  # pr-2 and local still run a1 and b2 (images are host-wide, shared by digest).
  printf '%s\n' 'sha256:a1 pr-2 r/app 1' >"$ROOT/pr-2/state/releases"
  printf 'tag=v1\ndigest=sha256:b2\n' >"$ROOT/local/state/current"
  declare -gA CUR=([digest]=sha256:d4) PREV=([digest]=sha256:c3)
  say() { printf '%s\n' "$*" >>"$BATS_TEST_TMPDIR/said"; }
  prune_releases
  # Nothing was removed: a1 and b2 are recorded by the other envs, c3 and d4 serve or are previous.
  run grep -c '^image rm' "$BATS_TEST_TMPDIR/docker.calls"
  [ "$output" = 0 ]
  grep -qF 'prune: keeping r/app:pr-1 (sha256:a1), pr-2/state/releases still records it' "$BATS_TEST_TMPDIR/said"
  grep -qF 'prune: keeping r/app:pr-1 (sha256:b2), local/state/current still records it' "$BATS_TEST_TMPDIR/said"
  # The other envs' state is as it was.
  [ "$(cat "$ROOT/pr-2/state/releases")" = 'sha256:a1 pr-2 r/app 1' ]
  [ "$(cat "$ROOT/local/state/current")" = $'tag=v1\ndigest=sha256:b2' ]
}

@test "an image only the pruning env records goes" {
  stub_docker_images
  ENV_NAME=pr-1
  setup_env_dir
  mkdir -p "$STATE_DIR" "$ROOT/pr-2/state"
  RUN[log]=$BATS_TEST_TMPDIR/run.log
  KEEP=2
  printf '%s\n' 'sha256:a1 pr-1 r/app 1' 'sha256:c3 pr-1 r/app 3' 'sha256:d4 pr-1 r/app 4' >"$STATE_DIR/releases"
  printf '%s\n' 'sha256:zz pr-2 r/app 1' >"$ROOT/pr-2/state/releases"
  declare -gA CUR=([digest]=sha256:d4) PREV=([digest]=sha256:c3)
  say() { :; }
  prune_releases
  grep -qx 'image rm r/app@sha256:a1' "$BATS_TEST_TMPDIR/docker.calls"
  run grep -c '^image rm' "$BATS_TEST_TMPDIR/docker.calls"
  [ "$output" = 1 ] # only a1: the tag r/app:pr-1 points elsewhere (the stub gives each reference its own id)
}
