#!/usr/bin/env bash
# Builds the demo app images (demo/) and pushes them to the local registry (127.0.0.1:5000).
# Prints "<tag> <digest>" per image and writes <repo>/.local-target/images.json.
# Needs a running local target: scripts/dev/local-target.sh up
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STATE_DIR="$REPO_ROOT/.local-target"
REGISTRY=127.0.0.1:5000
REPOSITORY=deep-calm
BUSYBOX=/bin/busybox
CONTEXT="" # temporary build context, removed on exit

# tag -> DEMO_MODE baked into that image; each tag has its own config, hence its own digest.
TAGS=(v1 v2 v3 bad-crash bad-unhealthy bad-slow bad-hang bad-migrate bad-late-crash bad-late-errors)
declare -A MODES=(
  [v1]=ok [v2]=ok [v3]=ok
  [bad-crash]=crash [bad-unhealthy]=unhealthy [bad-slow]=slow [bad-hang]=hang [bad-migrate]=migrate-fail
  [bad-late-crash]=late-crash [bad-late-errors]=late-errors
)

die() { printf 'demo-images: %s\n' "$*" >&2; exit 1; }

# Lays out the build context: Dockerfile + rootfs with static busybox, its applets and demo/app.
make_context() {
  local dir=$1 applet
  install -d "$dir/rootfs/bin" "$dir/rootfs/tmp"
  chmod 1777 "$dir/rootfs/tmp"
  cp "$REPO_ROOT/demo/Dockerfile" "$dir/"
  cp "$BUSYBOX" "$dir/rootfs/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$dir/rootfs/bin/$applet"
  done
  install -m 0755 "$REPO_ROOT/demo/app/start" "$REPO_ROOT/demo/app/migrate" "$dir/rootfs/bin/"
}

# Prints the digest the registry serves for a tag.
registry_digest() {
  curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$REPOSITORY/manifests/$1" |
    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}'
}

build_and_push() {
  local context=$1 tag=$2 ref="$REGISTRY/$REPOSITORY:$2"
  # Legacy builder: this Debian daemon has no buildx; --network host keeps dockerd off its bridge.
  DOCKER_BUILDKIT=0 docker build --network host -q \
    --build-arg "DEMO_VERSION=$tag" --build-arg "DEMO_MODE=${MODES[$tag]}" -t "$ref" "$context" \
    >/dev/null 2>"$context/build-$tag.log" || { cat "$context/build-$tag.log" >&2; die "build of $ref failed"; }
  docker push -q "$ref" >/dev/null 2>"$context/push-$tag.log" ||
    { cat "$context/push-$tag.log" >&2; die "push of $ref failed"; }
}

main() {
  [[ -x $BUSYBOX ]] || die "$BUSYBOX missing: apt-get install busybox-static (scripts/dev/local-target.sh up does)"
  curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null ||
    die "no registry on $REGISTRY: run scripts/dev/local-target.sh up"
  local tag digest json=""
  CONTEXT=$(mktemp -d)
  trap 'rm -rf "$CONTEXT"' EXIT
  make_context "$CONTEXT"
  for tag in "${TAGS[@]}"; do
    build_and_push "$CONTEXT" "$tag"
    digest=$(registry_digest "$tag")
    [[ $digest == sha256:* ]] || die "registry has no digest for $REPOSITORY:$tag"
    printf '%s/%s:%s %s\n' "$REGISTRY" "$REPOSITORY" "$tag" "$digest"
    json+="${json:+,}\"$tag\":\"$digest\""
  done
  mkdir -p "$STATE_DIR"
  printf '{%s}\n' "$json" >"$STATE_DIR/images.json.tmp"
  mv "$STATE_DIR/images.json.tmp" "$STATE_DIR/images.json"
}

main "$@"
